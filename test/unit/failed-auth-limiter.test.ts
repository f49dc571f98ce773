import t from 'tap';
import { FailedAuthLimiter } from '../../gateway/auth/failed-auth-limiter';

t.test('an address is limited after perMinute failures, others are not', async (t) => {
  const limiter = new FailedAuthLimiter(3);
  for (let i = 0; i < 3; i++) {
    t.equal(limiter.retryAfter('10.0.0.1'), 0, `under budget before failure ${i + 1}`);
    limiter.recordFailure('10.0.0.1');
  }
  const wait = limiter.retryAfter('10.0.0.1');
  t.ok(wait >= 1 && wait <= 60, `limited for the rest of the minute (${wait} s)`);
  t.equal(limiter.retryAfter('10.0.0.2'), 0, 'another address is not limited');
});

t.test('a raised limit applies at once', async (t) => {
  const limiter = new FailedAuthLimiter(1);
  limiter.recordFailure('a');
  t.ok(limiter.retryAfter('a') > 0);
  limiter.setLimit(2);
  t.equal(limiter.retryAfter('a'), 0);
});

t.test('memory stays bounded under a flood from ever-new addresses', async (t) => {
  const limiter = new FailedAuthLimiter(1, 100);
  for (let i = 0; i < 10_000; i++) limiter.recordFailure(`2001:db8:${i.toString(16)}::1`);
  t.ok(limiter.tracked <= 100, `tracks at most the cap (${limiter.tracked})`);
  t.ok(limiter.retryAfter('2001:db8:270f::2') > 0, 'the newest addresses are counted (and limited)');
});
