import { createHmac } from 'node:crypto';
import t from 'tap';
import { generateSecret } from '../../gateway/auth/token-format';
import { tokenHasher } from '../../gateway/auth/token-hash';

t.test('HMAC-SHA256 keyed with the pepper, base64url', async (t) => {
  const secret = generateSecret();
  const hash = tokenHasher('pepper')(secret);
  t.equal(hash, createHmac('sha256', 'pepper').update(secret).digest('base64url'));
  t.match(hash, /^[A-Za-z0-9_-]{43}$/, '256 bits, unpadded base64url');
  t.equal(tokenHasher('pepper')(secret), hash, 'deterministic, so the store can look it up');
  t.not(tokenHasher('other')(secret), hash, 'the pepper is the key');
  t.not(tokenHasher('pepper')(generateSecret()), hash, 'another secret, another hash');
  t.notOk(hash.includes(secret.slice(4, 14)), 'no part of the secret shows');
});
