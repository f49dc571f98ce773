import t from 'tap';
import { FailedAuthLimiter } from '../../gateway/auth/failed-auth-limiter';
import { limiterKey } from '../../gateway/auth/limiter-key';

t.test('IPv4-mapped IPv6 is the IPv4 address; IPv6 is counted per /64', async (t) => {
  t.equal(limiterKey('10.0.0.1'), '10.0.0.1');
  t.equal(limiterKey('::ffff:10.0.0.1'), '10.0.0.1');
  t.equal(limiterKey('::FFFF:10.0.0.1'), '10.0.0.1');
  // Other spellings of the same mapped address (a proxy's X-Forwarded-For may write any of them).
  t.equal(limiterKey('0:0:0:0:0:ffff:10.0.0.1'), '10.0.0.1', 'mapped, every group written');
  t.equal(limiterKey('::ffff:a00:1'), '10.0.0.1', 'mapped, in hex groups');
  t.equal(limiterKey('0000:0000:0000:0000:0000:FFFF:0A00:0001'), '10.0.0.1', 'mapped, full hex');
  t.equal(limiterKey('::ffff:0:10.0.0.1'), '0:0:0:0::/64', 'IPv4-translated (RFC 2765) is not mapped');
  t.equal(limiterKey('64:ff9b::10.0.0.1'), '64:ff9b:0:0::/64', 'nor is NAT64');
  t.equal(limiterKey('2001:db8:1:2:3:4:5:6'), '2001:db8:1:2::/64');
  t.equal(limiterKey('2001:0db8:0001:0002::9'), '2001:db8:1:2::/64');
  t.equal(limiterKey('2001:db8::1'), '2001:db8:0:0::/64');
  t.equal(limiterKey('2001:db8:1::'), '2001:db8:1:0::/64');
  t.equal(limiterKey('::1'), '0:0:0:0::/64');
  t.equal(limiterKey('fe80::1%eth0'), 'fe80:0:0:0::/64');
  t.equal(limiterKey('::'), '0:0:0:0::/64');
  t.equal(limiterKey('1:2:3:4:5:6:7::'), '1:2:3:4::/64');
  t.equal(limiterKey('::2:3:4:5:6:7:8'), '0:2:3:4::/64');
  t.equal(limiterKey(''), '', 'an unknown address is its own key');
  t.equal(limiterKey('not:an:address'), 'not:an:address');
});

t.test('the limiter counts by those keys', async (t) => {
  const limiter = new FailedAuthLimiter(2);
  limiter.recordFailure('::ffff:10.0.0.1');
  limiter.recordFailure('10.0.0.1');
  t.ok(limiter.retryAfter('10.0.0.1') > 0, 'the mapped and the plain spelling share one budget');
  t.ok(limiter.retryAfter('::ffff:10.0.0.1') > 0);
  limiter.recordFailure('::ffff:a00:2');
  limiter.recordFailure('0:0:0:0:0:ffff:10.0.0.2');
  t.ok(limiter.retryAfter('10.0.0.2') > 0, 'so do its other spellings');
  t.equal(limiter.retryAfter('10.0.0.3'), 0, 'and not its neighbours');
  limiter.recordFailure('2001:db8:1:2::1');
  limiter.recordFailure('2001:db8:1:2:ffff:ffff:ffff:ffff');
  t.ok(limiter.retryAfter('2001:db8:1:2::abcd') > 0, 'another address in the same /64 is limited');
  t.equal(limiter.retryAfter('2001:db8:1:3::1'), 0, 'the next /64 is not');
});

t.test('a full table never leaves new addresses uncounted', async (t) => {
  const limiter = new FailedAuthLimiter(2, 100);
  for (let i = 0; i < 100; i++) limiter.recordFailure(`10.1.0.${i}`);
  for (let i = 0; i < 5_000; i++) limiter.recordFailure(`10.2.${i >> 8}.${i & 255}`);
  t.ok(limiter.tracked <= 100, `bounded (${limiter.tracked})`);
  limiter.recordFailure('10.9.9.9');
  limiter.recordFailure('10.9.9.9');
  t.ok(limiter.retryAfter('10.9.9.9') > 0, 'an address first seen with the table full is still limited');

  const full = new FailedAuthLimiter(1, 100);
  for (let i = 0; i < 100; i++) full.recordFailure(`10.3.0.${i}`);
  full.recordFailure('10.3.1.1');
  t.ok(full.retryAfter('10.3.1.1') > 0, 'with every tracked address over budget too');
  t.ok(full.retryAfter('10.3.0.99') > 0, 'the newest of them stay limited');
  t.ok(full.tracked <= 100);
});
