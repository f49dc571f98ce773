import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { stringify } from 'yaml';
import { serve } from '../../gateway/cli/serve';
import { ConfigError } from '../../gateway/config/env';
import { parseConfig } from '../../gateway/config/load';
import { workerCount } from '../../gateway/workers/worker-count';
import { runCli } from '../helpers/cli';
import { writeConfig } from '../helpers/gateway';

const BASE = 'organization: acme\ndomain: gw.test\n';

function workersOf(text: string): number | 'auto' {
  return parseConfig(BASE + text, '/etc/gatehouse/gatehouse.yaml', { N: '3' }).workers;
}

t.test('workers: a whole number from 1 to 64, or auto (the default)', async (t) => {
  t.equal(workersOf(''), 'auto', 'absent: auto');
  t.equal(workersOf('workers: auto\n'), 'auto');
  t.equal(workersOf('workers: 1\n'), 1);
  t.equal(workersOf('workers: 64\n'), 64);
  t.equal(workersOf('workers: "${N}"\n'), 3, 'from the environment');
  for (const bad of ['0', '-1', '65', '1.5', 'two', '""', 'true', '[2]', '{n: 2}']) {
    t.throws(() => workersOf(`workers: ${bad}\n`), { constructor: ConfigError, path: 'workers', message: /^workers: must be a whole number from 1 to 64, or auto/ }, `workers: ${bad}`);
  }
});

t.test('auto: one worker per usable CPU, a fractional quota rounded up, within 1..64', async (t) => {
  t.equal(workerCount('auto', 2), 2);
  t.equal(workerCount('auto', 0.5), 1, 'half a CPU (cgroup quota): one');
  t.equal(workerCount('auto', 2.5), 3);
  t.equal(workerCount('auto', 256), 64);
  t.equal(workerCount(5, 1), 5, 'a number is taken as it is');
});

/** Runs serve in this process (it fails before forking anything) and returns its exit status and stderr. */
async function serveStderr(argv: string[]): Promise<{ code: number; stderr: string }> {
  let stderr = '';
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((chunk: string | Uint8Array) => { stderr += String(chunk); return true; }) as typeof process.stderr.write;
  try {
    return { code: await serve(argv), stderr };
  } finally {
    process.stderr.write = write;
  }
}

t.test('serve refuses a bad workers value, in the file or in --workers, with exit 1 naming it', async (t) => {
  const { file, dir } = writeConfig({ deployments: [] });
  for (const bad of ['0', '-2', 'many', '65']) {
    const flag = await serveStderr(['--config', file, `--workers=${bad}`]);
    t.equal(flag.code, 1, `--workers ${bad}: exit 1`);
    t.equal(flag.stderr, `gatehouse: --workers: must be a whole number from 1 to 64, or auto (got "${bad}")\n`);
  }
  const inFile = join(dir, 'bad-workers.yaml');
  writeFileSync(inFile, stringify({ organization: 'acme', domain: 'gw.test', workers: 0 }));
  const fromFile = await serveStderr(['--config', inFile]);
  t.equal(fromFile.code, 1);
  t.equal(fromFile.stderr, `gatehouse: invalid config ${inFile}: workers: must be a whole number from 1 to 64, or auto (got "0")\n`);
  const cli = await runCli(['serve', '--config', file, '--workers', '0'], {});
  t.equal(cli.code, 1, 'the gatehouse command exits 1');
  t.match(cli.stderr, /--workers: must be a whole number/);
  t.equal(cli.stdout, '', 'nothing started');
});
