import t from 'tap';
import { UsageError } from '../../gateway/cli/args';
import { describeLimits, limitsFromFlags, parseConcurrent, parseRate } from '../../gateway/cli/limit-flags';

t.test('--rate forms, as requests per minute', async (t) => {
  t.equal(parseRate('600/m'), 600);
  t.equal(parseRate('600/min'), 600);
  t.equal(parseRate('600'), 600, 'a bare number is per minute');
  t.equal(parseRate('10/s'), 600);
  t.equal(parseRate('3600/h'), 60);
  for (const bad of ['fast', '600/d', '-5/m', '1.5/m', '0/m', '100/h', '2000000000/m', '20000000/s', '/m', '']) {
    t.throws(() => parseRate(bad), UsageError, `refused: "${bad}"`);
  }
});

t.test('--concurrent', async (t) => {
  t.equal(parseConcurrent('4'), 4);
  for (const bad of ['0', 'four', '-1', '2.5', '1000000001']) t.throws(() => parseConcurrent(bad), UsageError, `refused: "${bad}"`);
});

t.test('flags to the API body', async (t) => {
  t.equal(limitsFromFlags(undefined, undefined, false), undefined);
  t.same(limitsFromFlags('10/s', '4', false), { requests_per_minute: 600, concurrent: 4 });
  t.same(limitsFromFlags('none', undefined, true), { requests_per_minute: null }, 'none removes (update)');
  t.throws(() => limitsFromFlags('none', undefined, false), UsageError, 'but is no rate for create');
  t.equal(describeLimits({ requests_per_minute: 600, concurrent: 4 }), '600/m, 4 concurrent');
  t.equal(describeLimits(null), '-');
});
