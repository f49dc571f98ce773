import t from 'tap';
import { parse, UsageError } from '../../gateway/cli/args';

const OPTIONS = {
  config: { type: 'string' },
  'user-deployment': { type: 'string', multiple: true },
  json: { type: 'boolean' },
} as const;

t.test('a flag that takes one value, given twice, is a usage error', async (t) => {
  // Else the last one wins without a word: a script's `--config a.yaml ... --config b.yaml` acts on b.
  for (const argv of [['--config', 'a.yaml', '--config', 'b.yaml'], ['--config=a.yaml', '--config', 'a.yaml']]) {
    t.throws(() => parse(argv, OPTIONS), { constructor: UsageError, message: '--config given more than once' }, argv.join(' '));
  }
});

t.test('repeatable flags and repeated switches are fine', async (t) => {
  const { values } = parse(['--user-deployment', 'a', '--user-deployment=b', '--json', '--json', '--config', 'c.yaml'], OPTIONS);
  t.same(values['user-deployment'], ['a', 'b']);
  t.equal(values.json, true);
  t.equal(values.config, 'c.yaml');
});

t.test('the other usage errors', async (t) => {
  t.throws(() => parse(['--bogus'], OPTIONS), { constructor: UsageError, message: /--bogus/ }, 'unknown flag');
  t.throws(() => parse(['--config'], OPTIONS), { constructor: UsageError, message: /--config/ }, 'missing value');
  t.throws(() => parse(['--json=yes'], OPTIONS), { constructor: UsageError, message: /--json/ }, 'a value for a switch');
  t.throws(() => parse(['x', 'y'], OPTIONS, 1), { constructor: UsageError, message: 'unexpected argument "y"' }, 'an extra argument');
  t.throws(() => parse(['x'], OPTIONS), { constructor: UsageError, message: /x/ }, 'an argument where none is taken');
});
