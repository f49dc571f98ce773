import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { cgroupCpus, gcOnMainThreadIfOneCpu, usableCpus } from '../../gateway/cli/single-cpu-gc';
import { writeConfig, type Teardown } from '../helpers/gateway';
import { cliEntry } from '../helpers/entry';

t.test("cgroup v2 cpu.max: a quota in CPUs, or none", async (t) => {
  t.equal(cgroupCpus('100000 100000\n'), 1);
  t.equal(cgroupCpus('50000 100000'), 0.5);
  t.equal(cgroupCpus('250000 100000'), 2.5);
  t.equal(cgroupCpus('max 100000\n'), undefined, 'no limit');
  t.equal(cgroupCpus(''), undefined, 'empty');
  t.equal(cgroupCpus('0 100000'), undefined, 'nonsense');
});

t.test('usable CPUs: the affinity, lowered by a cgroup quota', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-cpu-'));
  const half = join(dir, 'cpu.max');
  writeFileSync(half, '50000 100000\n');
  t.equal(usableCpus(half), 0.5);
  const many = join(dir, 'many');
  writeFileSync(many, '6400000 100000\n');
  t.equal(usableCpus(many), availableParallelism(), 'a quota above the affinity does not raise it');
  t.equal(usableCpus(join(dir, 'missing')), availableParallelism(), 'no cgroup file: the affinity');
});

t.test('the collector is kept on the main thread only with one CPU or less', async (t) => {
  t.equal(gcOnMainThreadIfOneCpu(2), false);
  t.equal(gcOnMainThreadIfOneCpu(0.5), true);
});

/** Starts `gatehouse serve`, optionally under `taskset -c 0`, and returns its output once it listens. */
function serveOutput(t: Teardown, pinned: boolean): Promise<string> {
  const { file } = writeConfig({ deployments: [] });
  const entry = cliEntry('serve.ts');
  const node = [...(entry.execArgv ?? process.execArgv), entry.modulePath, ...entry.prefixArgs, '--config', file];
  const child = pinned ? spawn('taskset', ['-c', '0', process.execPath, ...node]) : spawn(process.execPath, node);
  t.teardown(() => { child.kill('SIGKILL'); });
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`gateway did not start:\n${out}`)), 45_000);
    child.stderr.on('data', (d: Buffer) => { out += d.toString(); });
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (!out.includes('"gatehouse started"')) return;
      clearTimeout(timer);
      resolve(out);
    });
  });
}

t.test('gatehouse serve on one CPU says so and keeps the collector on the main thread', { skip: availableParallelism() < 2 ? 'needs two CPUs to compare' : false }, async (t) => {
  const pinned = await serveOutput(t, true);
  const line = pinned.split('\n').find((l) => l.includes('garbage collection stays on the main thread'));
  t.ok(line, 'logged under taskset -c 0');
  t.match(JSON.parse(line ?? '{}'), { cpus: 1 });
  const free = await serveOutput(t, false);
  t.notMatch(free, /garbage collection stays on the main thread/, 'not with every CPU');
});
