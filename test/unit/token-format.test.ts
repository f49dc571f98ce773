import t from 'tap';
import { generateSecret, isWellFormed, base62, TOKEN_LENGTH } from '../../gateway/auth/token-format';
import { crc32 } from 'node:zlib';

t.test('generated secrets are well formed', async (t) => {
  for (let i = 0; i < 200; i++) {
    const s = generateSecret();
    t.equal(s.length, TOKEN_LENGTH);
    t.match(s, /^gth_[0-9A-Za-z]{36}$/);
    t.ok(isWellFormed(s), s);
  }
});

t.test('checksum is the base62 CRC32 of the 30-character body, most significant digit first', async (t) => {
  const body = 'A'.repeat(30);
  const expected = base62(crc32(body), 6);
  t.ok(isWellFormed(`gth_${body}${expected}`));
  t.equal(base62(61, 3), '00z');
  t.equal(base62(62, 3), '010');
});

t.test('malformed secrets are refused', async (t) => {
  const good = generateSecret();
  const flipped = good.slice(0, 10) + (good[10] === 'a' ? 'b' : 'a') + good.slice(11);
  for (const bad of ['', 'gth_', good + 'x', good.slice(0, -1), 'ght_' + good.slice(4), flipped, good.slice(0, 20) + '-' + good.slice(21), good.replace('gth_', 'GTH_')]) {
    t.notOk(isWellFormed(bad), JSON.stringify(bad));
  }
});
