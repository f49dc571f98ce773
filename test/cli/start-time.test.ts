import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import t from 'tap';

// The README runs the CLI as `node bin/gatehouse.js` (an alias): every call must start in under a
// second. The bound is on the CPU time the call takes (bash's `times` for its child), which is the
// CLI's own: on a machine this busy, the wall time also measures the queue for a core.
const ROOT = resolve(__dirname, '..', '..');
const BIN = join(ROOT, 'bin', 'gatehouse.js');
const LIMIT_MS = 1_000;

const seconds = (text: string): number => {
  const [, m, s] = /(\d+)m([\d.]+)s/.exec(text) ?? [];
  return Number(m) * 60 + Number(s);
};

function run(args: string[], env: NodeJS.ProcessEnv): Promise<{ cpuMs: number; wallMs: number; code: number }> {
  const script = `"$0" "$@" >/dev/null 2>&1; code=$?; times; exit $code`;
  const start = process.hrtime.bigint();
  return new Promise((done) => {
    execFile('/bin/bash', ['-c', script, process.execPath, BIN, ...args], { env: { ...process.env, ...env }, timeout: 30_000 }, (err, stdout) => {
      const children = stdout.trim().split('\n')[1] ?? '';
      const [user = '', sys = ''] = children.split(' ');
      done({ cpuMs: (seconds(user) + seconds(sys)) * 1000, wallMs: Number(process.hrtime.bigint() - start) / 1e6, code: err ? Number(err.code ?? 1) : 0 });
    });
  });
}

t.test('the CLI starts in under a second', { skip: existsSync(join(ROOT, 'dist', 'gateway', 'cli', 'main.js')) ? false : 'needs npm run build' }, async (t) => {
  const home = mkdtempSync(join(tmpdir(), 'gatehouse-home-'));
  t.teardown(() => rmSync(home, { recursive: true, force: true }));
  const env = { GATEHOUSE_HOME: home };
  for (const [args, code] of [[['--help'], 0], [['token', 'create', '--help'], 0], [['list-context'], 0], [['token', 'list'], 1]] as const) {
    const result = await run([...args], env);
    t.equal(result.code, code, `gatehouse ${args.join(' ')} ran (token list: not logged in, exit 1)`);
    t.ok(result.cpuMs > 0 && result.cpuMs < LIMIT_MS, `gatehouse ${args.join(' ')}: ${result.cpuMs.toFixed(0)} ms of CPU (${result.wallMs.toFixed(0)} ms wall)`);
  }
});
