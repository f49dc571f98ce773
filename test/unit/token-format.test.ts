import t from 'tap';
import { generateSecret, isWellFormed, base62, TOKEN_LENGTH, TOKEN_PREFIX } from '../../gateway/auth/token-format';
import { crc32 } from 'node:zlib';

const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** An independent base62 encoder (BigInt, most significant digit first, zero-padded). */
function reference(value: number, width: number): string {
  let n = BigInt(value);
  let out = '';
  while (n > 0n) {
    out = ALPHABET[Number(n % 62n)] + out;
    n /= 62n;
  }
  return out.padStart(width, '0');
}

/** A 30-character body whose CRC32 is below `limit`, found deterministically. */
function bodyWithSmallCrc(limit: number): string {
  for (let i = 0; ; i++) {
    const body = i.toString(36).padStart(30, 'Q');
    if (crc32(body) < limit) return body;
  }
}

t.test('generated secrets are well formed', async (t) => {
  for (let i = 0; i < 200; i++) {
    const s = generateSecret();
    t.equal(s.length, TOKEN_LENGTH);
    t.match(s, /^gth_[0-9A-Za-z]{36}$/);
    t.ok(isWellFormed(s), s);
    t.equal(s.slice(34), reference(crc32(s.slice(4, 34)), 6), 'checksum is the CRC32 of the 30-character body');
  }
});

t.test('base62: alphabet 0-9A-Za-z, most significant digit first, zero-padded', async (t) => {
  t.equal(base62(0, 6), '000000');
  t.equal(base62(61, 3), '00z');
  t.equal(base62(62, 3), '010');
  t.equal(base62(62 ** 5, 6), '100000');
  t.equal(base62(36, 2), '0a', 'upper case before lower case');
  t.equal(base62(0xcbf43926, 6), '3jZRME', 'CRC32("123456789"), the standard check value');
  t.equal(base62(2 ** 32 - 1, 6), '4gfFC3', 'the largest CRC32 fits in six digits');
  t.equal(crc32('123456789'), 0xcbf43926, 'node:zlib crc32 is the IEEE CRC32');
  for (const v of [1, 61, 62, 3843, 3844, 238327, 14776335, 916132831, 916132832, 2 ** 31, 2 ** 32 - 2]) {
    t.equal(base62(v, 6), reference(v, 6), String(v));
  }
});

t.test('a small checksum keeps its leading zeros', async (t) => {
  const body = bodyWithSmallCrc(62 ** 4);
  const checksum = reference(crc32(body), 6);
  t.match(checksum, /^00/, `CRC32 ${crc32(body)} encodes with two leading zeros`);
  t.ok(isWellFormed(`${TOKEN_PREFIX}${body}${checksum}`), 'padded: accepted');
  t.notOk(isWellFormed(`${TOKEN_PREFIX}${body}${checksum.replace(/^0+/, '')}`), 'unpadded: refused');
  t.notOk(isWellFormed(`${TOKEN_PREFIX}${body}${checksum.slice(2)}00`), 'padding at the wrong end: refused');
});

t.test('malformed secrets are refused', async (t) => {
  const good = generateSecret();
  const flipped = good.slice(0, 10) + (good[10] === 'a' ? 'b' : 'a') + good.slice(11);
  const badChecksum = good.slice(0, 39) + (good[39] === '0' ? '1' : '0');
  const swapped = good.slice(0, 34) + good.slice(35, 40) + good[34];
  for (const bad of [
    '', 'gth_', good + 'x', good.slice(0, -1), 'ght_' + good.slice(4), flipped, badChecksum,
    good.slice(0, 20) + '-' + good.slice(21), good.replace('gth_', 'GTH_'), good.slice(0, 20) + 'é' + good.slice(21),
    good.slice(0, 20) + '\u0000' + good.slice(21), ' ' + good.slice(1), good.slice(0, 39) + ' ',
  ]) {
    t.notOk(isWellFormed(bad), JSON.stringify(bad));
  }
  if (swapped !== good) t.notOk(isWellFormed(swapped), 'checksum digits out of order');
});

t.test('the prefix and length are fixed by the contract', async (t) => {
  t.equal(TOKEN_PREFIX, 'gth_');
  t.equal(TOKEN_LENGTH, 40);
});
