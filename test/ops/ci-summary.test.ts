import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import t from 'tap';
import { parse } from 'yaml';

// Coverage is on and gated, and .ci/run prints the figure: a small project with this .taprc, run
// with npm test's own tap flags, then scripts/ci-summary.sh (.ci/run's closing lines) on its output.
const ROOT = resolve(__dirname, '..', '..');

interface Run { readonly code: number; readonly output: string }

function run(file: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<Run> {
  return new Promise((done) => {
    execFile(file, args, { cwd, env, timeout: 120_000 }, (err, stdout, stderr) => {
      done({ code: err ? Number(err.code ?? 1) : 0, output: stdout + stderr });
    });
  });
}

/** The environment without this tap run's own: the inner run must not report into the outer one's coverage. */
function outsideTap(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(TAP|_TAP|NODE_V8_COVERAGE$|NODE_OPTIONS$)/.test(k)));
}

const taprc = parse(readFileSync(join(ROOT, '.taprc'), 'utf8')) as Record<string, unknown>;
const testScript = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: { test: string } }).scripts.test;

t.test('npm test gates the coverage of gateway/ at a chosen line and branch figure', async (t) => {
  t.notOk(taprc['disable-coverage'], 'coverage is on');
  t.ok(Number(taprc.lines) >= 90 && Number(taprc.branches) >= 90, `lines ${String(taprc.lines)}, branches ${String(taprc.branches)}`);
  t.match(testScript, /&& tap --no-allow-incomplete-coverage$/, 'the full run fails below the gate');
  t.same(taprc['coverage-report'], ['text-summary'], 'the report .ci/run reads');
  t.match(readFileSync(join(ROOT, '.ci', 'run'), 'utf8'), /\nscripts\/ci-summary\.sh \.tap\/ci\.tap "\$status"\n/, '.ci/run ends with the summary');
});

t.test('scripts/ci-summary.sh prints the coverage tap measured, and fails a run below the gate', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-coverage-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'gateway'));
  mkdirSync(join(dir, 'test'));
  copyFileSync(join(ROOT, '.taprc'), join(dir, '.taprc'));
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  writeFileSync(join(dir, 'package.json'), '{"name": "coverage-probe", "private": true}\n');
  writeFileSync(join(dir, 'gateway', 'sign.ts'), "export function sign(n: number): string {\n  if (n < 0) return 'negative';\n  return 'positive';\n}\n");
  const tapArgs = [...testScript.replace(/^.*&& tap /, '').split(' '), '--reporter=tap'];
  const tap = join(ROOT, 'node_modules', '.bin', 'tap');

  const measure = async (calls: string[]): Promise<{ tap: Run; summary: Run }> => {
    writeFileSync(join(dir, 'test', 'sign.test.ts'), `import t from 'tap';\nimport { sign } from '../gateway/sign';\n${calls.join('\n')}\n`);
    const ran = await run(tap, tapArgs, dir, outsideTap());
    writeFileSync(join(dir, 'out.tap'), ran.output);
    return { tap: ran, summary: await run(join(ROOT, 'scripts', 'ci-summary.sh'), [join(dir, 'out.tap'), String(ran.code)], dir, outsideTap()) };
  };

  const half = await measure(["t.equal(sign(1), 'positive');"]);
  t.not(half.tap.code, 0, 'half the branches: below the gate, the run fails');
  t.equal(half.summary.output, 'coverage of gateway/: lines 100%, branches 50%\n'
    + 'npm test exited 1 with no failed test: coverage below the gate in .taprc, or the build or type check failed\n1 passed, 1 failed\n');
  t.equal(half.summary.code, 1);

  const full = await measure(["t.equal(sign(1), 'positive');", "t.equal(sign(-1), 'negative');"]);
  t.equal(full.tap.code, 0, 'every branch covered: the run passes');
  if (full.tap.code !== 0) t.comment(full.tap.output);
  t.equal(full.summary.output, 'coverage of gateway/: lines 100%, branches 100%\n2 passed, 0 failed\n');
  t.equal(full.summary.code, 0);
});
