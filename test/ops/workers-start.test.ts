import { execFileSync, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import t from 'tap';
import { spawnGateway, writeConfig } from '../helpers/gateway';
import { runCli } from '../helpers/cli';
import { cliEntry } from '../helpers/entry';
import { within } from '../helpers/ops';
import { listenOn } from '../helpers/ports';
import { alive, childPids } from '../helpers/workers';

/** Processes whose command line names this config file: a supervisor's or its workers'. */
function processesOf(file: string): number[] {
  try {
    return execFileSync('pgrep', ['-f', file], { encoding: 'utf8' }).split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

t.test('a listener that cannot bind: serve exits 1 naming it, and no worker is left', async (t) => {
  const taken = await listenOn();
  t.teardown(() => new Promise((r) => taken.close(r)));
  const port = (taken.address() as { port: number }).port;
  const { file } = writeConfig({ deployments: [], extra: { workers: 2 } });
  // The admin listener comes last: the external and internal ones are bound by then, in both workers.
  const text = readFileSync(file, 'utf8').replace(/admin:\n(\s+)- address: 127\.0\.0\.1:0/, `admin:\n$1- address: 127.0.0.1:${port}`);
  writeFileSync(file, text);
  const run = await runCli(['serve', '--config', file], {});
  t.equal(run.code, 1, 'exit 1');
  t.match(run.stderr, new RegExp(`^gatehouse: listeners\\.admin\\[0\\]: cannot listen on 127\\.0\\.0\\.1:${port}: .*EADDRINUSE`), 'names the listener');
  t.equal(run.stderr.split('\n').filter(Boolean).length, 1, 'one line, not one per worker');
  t.same(processesOf(file), [], 'no worker outlives it');
});

t.test('a supervisor killed with SIGKILL takes its workers with it', async (t) => {
  const { file } = writeConfig({ deployments: [], extra: { workers: 2 } });
  const gw = await spawnGateway(t, file);
  const workers = childPids(gw.child.pid ?? 0);
  t.equal(workers.length, 2, 'two workers');
  gw.child.kill('SIGKILL');
  await gw.exited;
  const gone = await within(5_000, async () => workers.every((pid) => !alive(pid)));
  t.ok(gone !== null, `the workers exit when their supervisor is gone (${String(gone)} ms)`);
});

t.test('the one-CPU collector choice is made in every worker', { skip: availableParallelism() < 2 ? 'needs two CPUs to pin one' : false }, async (t) => {
  const { file } = writeConfig({ deployments: [] });
  const entry = cliEntry('serve.ts');
  // Two workers on one CPU (taskset -c 0): each has one CPU, so each keeps its collector on the main thread.
  const node = [...(entry.execArgv ?? process.execArgv), entry.modulePath, ...entry.prefixArgs, '--config', file, '--workers', '2'];
  const child = spawn('taskset', ['-c', '0', process.execPath, ...node]);
  t.teardown(() => { child.kill('SIGKILL'); });
  let out = '';
  child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { out += d.toString(); });
  const started = await within(45_000, async () => out.includes('"gatehouse started"'), Date.now(), 100);
  if (started === null) t.comment(out);
  t.ok(started !== null, 'the supervisor and both workers started');
  await within(2_000, async () => (out.match(/garbage collection stays on the main thread/g) ?? []).length >= 2, Date.now(), 100);
  const workers = out.split('\n').filter((l) => l.includes('garbage collection stays on the main thread')).map((l) => (JSON.parse(l) as { worker: number }).worker);
  t.same(workers.sort(), [1, 2], 'logged by worker 1 and worker 2');
});
