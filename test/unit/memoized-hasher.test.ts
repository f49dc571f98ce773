import t from 'tap';
import { generateSecret } from '../../gateway/auth/token-format';
import { memoizedHasher, tokenHasher } from '../../gateway/auth/token-hash';

t.test('gives the store hash, computing it once per secret, within a bounded memo', async (t) => {
  const plain = tokenHasher('pepper');
  let calls = 0;
  const memo = memoizedHasher((secret) => {
    calls++;
    return plain(secret);
  }, 2);
  const [a, b, c] = [generateSecret(), generateSecret(), generateSecret()];
  t.equal(memo(a), plain(a), 'the same keyed hash as without the memo');
  t.equal(memo(a), plain(a));
  t.equal(calls, 1, 'the second lookup is remembered');
  memo(b);
  t.equal(calls, 2);
  memo(c);
  t.equal(calls, 3, 'full: the memo starts over instead of growing');
  memo(a);
  t.equal(calls, 4, 'forgotten entries are computed again');
  t.not(memo(b), memo(c), 'distinct secrets keep distinct hashes');
});
