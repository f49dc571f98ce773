import { spawn } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import t, { type Test } from 'tap';
import { freePort } from '../helpers/ports';
import { startRedis } from '../helpers/redis';

// The README's own snippets, run as a new user would: from the top of a checkout (a copy of
// config/ with the built code linked in), in bash with the README's alias, Debian's python3-grpcio
// and curl. Only the ports move (to free ones, through the configs' GATEHOUSE_*_PORT variables):
// tests run side by side. A snippet is the fenced block after `<!-- readme-test: NAME -->`.

const ROOT = resolve(__dirname, '..', '..');
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
/** The port numbers the README uses, and the variables the example configs read them from. */
const PORT_VARIABLES: Record<number, string | undefined> = {
  8080: 'GATEHOUSE_EXTERNAL_PORT', 8090: 'GATEHOUSE_INTERNAL_PORT', 9090: 'GATEHOUSE_ADMIN_PORT', 8443: 'GATEHOUSE_TLS_PORT',
  8081: undefined, 8091: undefined, 9091: undefined, 3000: undefined, 3001: undefined,
};
/** Commands that keep running: the test starts them in the background, as the README's other terminal. */
const LONG_RUNNING = /^(?:[A-Z_]+=\S+ +)*(?:gatehouse serve|node examples\/)/;

function snippet(name: string): string {
  const match = new RegExp(`<!-- readme-test: ${name} -->\\n\`\`\`\\w*\\n([\\s\\S]*?)\\n\`\`\``).exec(README);
  if (!match) throw new Error(`README.md has no snippet marked readme-test: ${name}`);
  return match[1]!;
}

/** A snippet's commands, continuation lines joined, with each one's trailing comment. */
function commands(name: string): { command: string; comment: string }[] {
  return snippet(name).replace(/\\\n\s*/g, '').split('\n').filter((line) => line.trim() !== '').map((line) => {
    const at = line.search(/\s+#\s/);
    return at < 0 ? { command: line.trim(), comment: '' } : { command: line.slice(0, at).trim(), comment: line.slice(at).replace(/^\s+#\s*/, '') };
  });
}

interface Outcome { readonly command: string; readonly comment: string; readonly status: number; readonly output: string }

/**
 * Runs snippets in one bash session in `dir`: long-running commands in the background (each
 * waited for until its port answers), the others one by one, with their exit status and output.
 * Background jobs are stopped at the end.
 */
async function scenario(dir: string, ports: Map<number, number>, env: NodeJS.ProcessEnv, steps: { command: string; comment: string }[]): Promise<Outcome[]> {
  const moved = (text: string): string => text.replace(/\b(8080|8090|9090|8443|8081|8091|9091|3000|3001)\b/g, (p) => String(ports.get(Number(p))));
  const lines = ['set -u', 'shopt -s expand_aliases'];
  steps.forEach(({ command }, i) => {
    const line = moved(command);
    if (LONG_RUNNING.test(line)) {
      const port = /examples\/\S+ (\d+)/.exec(line)?.[1] ?? /GATEHOUSE_ADMIN_PORT=(\d+)/.exec(line)?.[1] ?? String(ports.get(9090));
      lines.push(`${line.replace(/\s*&$/, '')} > ${join(dir, `bg-${i}.log`)} 2>&1 &`);
      lines.push(`for _ in $(seq 300); do (: </dev/tcp/127.0.0.1/${port}) 2>/dev/null && break; sleep 0.1; done`);
    } else {
      lines.push(`echo "@@cmd ${i}"`, line.endsWith('&') ? line : `${line} 2>&1`, `echo "@@exit $?"`);
    }
  });
  lines.push('kill $(jobs -p) 2>/dev/null; wait');
  const output = await new Promise<string>((done, fail) => {
    const child = spawn('/bin/bash', ['-c', lines.join('\n')], { cwd: dir, env: { ...process.env, ...env } });
    let out = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { out += d.toString(); });
    const timer = setTimeout(() => { child.kill('SIGKILL'); fail(new Error(`the snippets did not finish:\n${out}`)); }, 120_000);
    child.once('close', () => { clearTimeout(timer); done(out); });
  });
  const outcomes: Outcome[] = [];
  for (const [, index, body, status] of output.matchAll(/@@cmd (\d+)\n([\s\S]*?)@@exit (\d+)\n/g)) {
    const step = steps[Number(index)]!;
    outcomes.push({ ...step, status: Number(status), output: body! });
  }
  return outcomes;
}

/** Every command exited 0; a comment starting with an HTTP status is the status curl saw. */
function check(t: Test, outcomes: Outcome[], expected: number): void {
  t.equal(outcomes.length, expected, 'every command ran');
  for (const o of outcomes) {
    t.equal(o.status, 0, o.command);
    if (o.status !== 0) t.comment(o.output);
    const status = /^(\d{3})\b/.exec(o.comment)?.[1];
    if (status) t.match(o.output, new RegExp(`^HTTP/[\\d.]+ ${status}\\b`, 'm'), `${o.command}: ${status}`);
  }
}

t.test('the README snippets work as written', async (t) => {
  const probe = spawn('/usr/bin/python3', ['-c', 'import grpc']);
  if ((await new Promise((r) => probe.once('close', r))) !== 0) {
    t.fail('/usr/bin/python3 cannot import grpc: install python3-grpcio (.ci/run does)');
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-readme-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  cpSync(join(ROOT, 'config'), join(dir, 'config'), { recursive: true });
  for (const linked of ['bin', 'dist', 'examples', 'node_modules', 'package.json']) symlinkSync(join(ROOT, linked), join(dir, linked));
  // `python3` as the README says it, Debian's (where python3-grpcio is).
  mkdirSync(join(dir, '.bin'));
  symlinkSync('/usr/bin/python3', join(dir, '.bin', 'python3'));
  const ports = new Map<number, number>();
  for (const p of Object.keys(PORT_VARIABLES)) ports.set(Number(p), await freePort());
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const env: NodeJS.ProcessEnv = {
    PATH: `${join(dir, '.bin')}:${process.env.PATH ?? ''}`,
    GATEHOUSE_HOME: join(dir, '.gatehouse'),
    GATEHOUSE_PEPPER: '',
    GATEHOUSE_EXAMPLE_UPSTREAM: `http://127.0.0.1:${ports.get(3000)}`,
    GATEHOUSE_EXAMPLE_GRPC_UPSTREAM: `http://127.0.0.1:${ports.get(3001)}`,
    GATEHOUSE_REDIS_URL: redis.url,
  };
  for (const [p, variable] of Object.entries(PORT_VARIABLES)) if (variable) env[variable] = String(ports.get(Number(p)));
  const setup = commands('setup');
  t.match(setup[0]!.command, /^npm ci$/, 'the setup installs with npm ci (done already: the test runs on this build)');
  const alias = setup.filter((s) => s.command.startsWith('alias gatehouse='));
  t.equal(alias.length, 1, 'the README defines the gatehouse alias');

  t.test('quick start', async (t) => {
    const steps = [...setup.slice(1), ...commands('start'), ...commands('run'), ...commands('run-cli')];
    const outcomes = await scenario(dir, ports, env, steps);
    check(t, outcomes, steps.filter((s) => !LONG_RUNNING.test(s.command)).length);
    t.match(outcomes.find((o) => o.command.startsWith('curl -N'))?.output, /data: \[DONE\]/, 'the SSE stream ran to its end');
    t.match(outcomes.find((o) => o.command.startsWith('gatehouse login'))?.output, /^Successfully logged in as user/);
  });

  t.test('TLS with curl and the Python gRPC client', async (t) => {
    writeFileSync(join(dir, 'iris_client.py'), snippet('python').replace(/\b8443\b/g, String(ports.get(8443))));
    const steps = [...alias, ...commands('start'), ...commands('tls-setup'), ...commands('tls-run')];
    const outcomes = await scenario(dir, ports, env, steps);
    check(t, outcomes, steps.filter((s) => !LONG_RUNNING.test(s.command)).length);
    t.match(outcomes.find((o) => o.command.startsWith('curl'))?.output, /^HTTP\/2 200/m, 'curl spoke HTTP/2 over TLS');
    const python = outcomes.find((o) => o.command.startsWith('python3'));
    // What the snippet's comments say it prints, line by line.
    const printed = [...snippet('python').matchAll(/^print\(.*\)\s+#\s*(.+)$/gm)].map((m) => m[1]!.trim());
    t.equal(printed.length, 2, 'two calls: unary and server streaming');
    t.equal(python?.output, printed.join('\n') + '\n');
  });

  t.test('two replicas on one host, on Redis', async (t) => {
    const steps = [...alias, ...commands('start'), ...commands('replicas-start'), ...commands('replicas-run')];
    const outcomes = await scenario(dir, ports, env, steps);
    check(t, outcomes, steps.filter((s) => !LONG_RUNNING.test(s.command)).length);
  });
});
