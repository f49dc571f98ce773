import { execFile, execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import t from 'tap';

// A new user on Debian has Node 20 first on PATH. The build loads under it, and `serve` then failed
// with "Cannot read properties of undefined (reading 'bind')". The CLI must say what is wrong and
// what to do, before loading anything.
const ROOT = resolve(__dirname, '..', '..');
const OLD_NODE = '/usr/bin/node';

function run(node: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(node, [join(ROOT, 'bin', 'gatehouse.js'), ...args], { timeout: 30_000 }, (err, stdout, stderr) => {
      done({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr });
    });
  });
}

const old = existsSync(OLD_NODE) ? Number(execFileSync(OLD_NODE, ['-p', 'process.versions.node'], { encoding: 'utf8' }).split('.')[0]) : 0;

t.test('an older Node gets a message naming the version it needs and the fix', { skip: old > 0 && old < 24 ? false : `no Node older than 24 at ${OLD_NODE}` }, async (t) => {
  for (const args of [['serve'], ['--version'], ['token', 'list']]) {
    const result = await run(OLD_NODE, args);
    t.equal(result.code, 1, `gatehouse ${args.join(' ')}: exit 1`);
    t.equal(result.stdout, '');
    t.match(result.stderr, new RegExp(`^gatehouse: needs Node\\.js 24 or later; this is v${old}\\.\\d+\\.\\d+ \\(${OLD_NODE}\\)\\.\\n`
      + 'In a checkout, "source scripts/node24.sh" fetches Node\\.js 24 and puts it first on PATH\\.\\n$'));
  }
});

t.test('Node 24 runs the CLI', async (t) => {
  const result = await run(process.execPath, ['--version']);
  t.equal(result.code, 0, result.stderr);
  t.match(result.stdout, /^gatehouse \d+\.\d+\.\d+\n$/);
});
