import { execFile, execFileSync, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import t from 'tap';
import { DockerfileParser, type Copy, type From, type Instruction, type JSONInstruction } from 'dockerfile-ast';
import { loadConfig } from '../../gateway/config/load';
import { hostOf, writeConfig } from '../helpers/gateway';
import { get } from '../helpers/http';
import { within } from '../helpers/ops';
import { startUpstream } from '../helpers/upstream';

// No container engine runs here. The Dockerfile is parsed and held to the rules of SPEC §9;
// then its build stage is replayed step by step into a temporary folder, the runtime stage's
// files are copied out of it the way the image gets them, and `gatehouse serve` runs from
// there with production dependencies only.
const ROOT = resolve(__dirname, '..', '..');
const dockerfile = DockerfileParser.parse(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'));

interface Stage {
  readonly from: From;
  readonly name: string | null;
  readonly steps: Instruction[];
}

const stages: Stage[] = [];
for (const instruction of dockerfile.getInstructions()) {
  if (instruction.getKeyword() === 'FROM') {
    const from = instruction as From;
    stages.push({ from, name: from.getBuildStage(), steps: [] });
  } else {
    stages.at(-1)?.steps.push(instruction);
  }
}
const build = stages[0];
const runtime = stages[stages.length - 1];

const keyword = (stage: Stage, word: string): Instruction[] => stage.steps.filter((s) => s.getKeyword() === word);
const args = (instruction: Instruction): string[] => instruction.getArguments().map((a) => a.getValue());
const json = (instruction: Instruction): string[] => (instruction as JSONInstruction).getJSONStrings().map((s) => s.getJSONValue());
const copyFrom = (instruction: Instruction): string | undefined => (instruction as Copy).getFromFlag()?.getValue() ?? undefined;
/** A COPY's sources and destination, flags left out. */
const copyPaths = (instruction: Instruction): { sources: string[]; dest: string } => {
  const paths = args(instruction).filter((a) => !a.startsWith('--'));
  return { sources: paths.slice(0, -1), dest: paths[paths.length - 1] };
};

/**
 * Does what docker does for a stage's WORKDIR, COPY and RUN steps, with `root` standing for the
 * container's `/`: a directory source copies its contents, a destination ending in `/` (or
 * taking several sources) is a folder. RUN steps run only when `run` is set; apt-get ones never
 * (no package manager runs outside a container).
 */
async function replay(stage: Stage, root: string, buildRoot: string, run: boolean, took: string[] = []): Promise<void> {
  let dir = '/';
  const inRoot = (path: string): string => join(root, resolve(dir, path));
  for (const step of stage.steps) {
    const word = step.getKeyword();
    if (word === 'WORKDIR') {
      dir = resolve(dir, args(step)[0]);
      mkdirSync(inRoot('.'), { recursive: true });
    } else if (word === 'COPY') {
      const { sources, dest } = copyPaths(step);
      const intoFolder = dest.endsWith('/') || sources.length > 1;
      for (const source of sources) {
        const from = copyFrom(step) === undefined ? join(ROOT, source) : join(buildRoot, source);
        const target = intoFolder && !statSync(from).isDirectory() ? join(inRoot(dest), basename(from)) : inRoot(dest);
        mkdirSync(dirname(target), { recursive: true });
        cpSync(from, target, { recursive: true });
      }
    } else if (word === 'RUN' && run) {
      const command = step.getArgumentsContent() ?? '';
      if (/^apt-get\b/.test(command)) continue;
      const started = Date.now();
      await sh(command, inRoot('.'));
      took.push(`${command}: ${((Date.now() - started) / 1000).toFixed(0)} s`);
    }
  }
}

t.test('the Dockerfile: multi-stage on the official Node 24 slim image', async (t) => {
  t.ok(stages.length >= 2, 'a build stage and a runtime stage');
  for (const stage of stages) {
    t.equal(stage.from.getImageName(), 'node', `${stage.name ?? 'runtime'}: the official node image`);
    t.match(stage.from.getImageTag(), /^24(\.\d+){0,2}(-[a-z]+)?-slim$/, `${stage.name ?? 'runtime'}: Node 24, slim`);
  }
  t.ok(build.name, 'the build stage is named');
  const runs = keyword(build, 'RUN').map((r) => r.getArgumentsContent() ?? '');
  const at = (pattern: RegExp): number => runs.findIndex((r) => pattern.test(r));
  t.ok(at(/\bnpm ci\b/) >= 0, 'the build stage runs npm ci');
  t.ok(at(/\btsc\b|npm run build/) > at(/\bnpm ci\b/), 'then builds');
  t.ok(at(/npm prune --omit=dev/) > at(/\btsc\b|npm run build/), 'then prunes the devDependencies');
});

t.test('the runtime stage: production dependencies, dist, bin and the console assets, nothing else', async (t) => {
  const copies = keyword(runtime, 'COPY').concat(keyword(runtime, 'ADD'));
  const fromBuild = copies.filter((c) => copyFrom(c) === build.name).flatMap((c) => copyPaths(c).sources);
  t.same(fromBuild.sort(), ['/app/bin', '/app/dist/console', '/app/dist/gateway', '/app/node_modules', '/app/package.json'],
    'from the build stage: package.json (the version), node_modules, dist/gateway, dist/console, bin');
  const fromContext = copies.filter((c) => copyFrom(c) === undefined).map(copyPaths);
  t.same(fromContext, [{ sources: ['config/gatehouse.container.yaml'], dest: '/etc/gatehouse/gatehouse.yaml' }], 'from the checkout: only the default config');
  t.same(keyword(runtime, 'ADD'), [], 'no ADD');

  const users = keyword(runtime, 'USER').map((u) => args(u).join(' '));
  t.equal(users.length, 1, 'one USER');
  t.match(users[0], /^[1-9]\d*(:\d+)?$/, 'a numeric, non-root user (runAsNonRoot can verify it)');
  t.same(keyword(runtime, 'VOLUME').flatMap(args), ['/data'], 'VOLUME /data for the embedded store');

  const [entrypoint] = keyword(runtime, 'ENTRYPOINT');
  const [cmd] = keyword(runtime, 'CMD');
  t.same(json(entrypoint), ['node', '/app/bin/gatehouse.js'], 'ENTRYPOINT runs the CLI, exec form: no shell between SIGTERM and the gateway');
  t.same(json(cmd), ['serve', '--config', '/etc/gatehouse/gatehouse.yaml'], 'CMD serves the config at /etc/gatehouse/gatehouse.yaml');
});

t.test('EXPOSE names the listener ports of the in-container config, which listens on every interface', async (t) => {
  const config = loadConfig(join(ROOT, 'config', 'gatehouse.container.yaml'), {});
  const listeners = [...config.listeners.external, ...config.listeners.internal, ...config.listeners.admin];
  t.ok(listeners.every((l) => l.host === '0.0.0.0'), 'every listener on 0.0.0.0');
  const exposed = keyword(runtime, 'EXPOSE').flatMap(args).map(Number).sort();
  t.same(exposed, listeners.map((l) => l.port).sort(), 'EXPOSE: exactly those ports');
  t.same(config.store, { driver: 'embedded', path: '/data/gatehouse.db' }, 'the embedded store in the volume');
});

t.test('.dockerignore keeps local state out of the build context and lets in what COPY names', async (t) => {
  const lines = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  t.equal(lines[0], '*', 'everything is left out first');
  const allowed = lines.filter((l) => l.startsWith('!')).map((l) => l.slice(1).replace(/\/$/, ''));
  for (const stage of stages) {
    for (const copy of keyword(stage, 'COPY').filter((c) => copyFrom(c) === undefined)) {
      for (const source of copyPaths(copy).sources) t.ok(allowed.includes(source.replace(/\/$/, '')), `${source} is in the context`);
    }
  }
  for (const local of ['node_modules', 'dist', 'data', 'certs', '.git']) t.notOk(allowed.includes(local), `${local} is not`);
});

/** Runs a RUN step's shell command, without blocking this process's timers. */
function sh(command: string, cwd: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('sh', ['-c', command], { cwd, maxBuffer: 64 * 1024 * 1024 }, (err, _stdout, stderr) => {
      if (err) reject(new Error(`RUN ${command} failed: ${err.message}\n${stderr}`));
      else resolve();
    });
  });
}

// npm ci and tsc take a minute or two on a busy machine.
t.setTimeout(600_000);

t.test('the build stage replayed into a folder: gatehouse serve runs on production dependencies only', async (t) => {
  const work = mkdtempSync(join(tmpdir(), 'gatehouse-image-'));
  t.teardown(() => rmSync(work, { recursive: true, force: true }));
  const buildRoot = join(work, 'build');
  const runtimeRoot = join(work, 'runtime');
  const started = Date.now();
  const took: string[] = [];
  await replay(build, buildRoot, buildRoot, true, took);
  t.comment(`build stage replayed in ${((Date.now() - started) / 1000).toFixed(0)} s (${took.join('; ')})`);
  await replay(runtime, runtimeRoot, buildRoot, false);
  const app = join(runtimeRoot, 'app');
  t.ok(existsSync(join(app, 'node_modules', 'better-sqlite3')), 'a production dependency is there');
  for (const dev of ['typescript', 'tap', 'dockerfile-ast', '@grpc/grpc-js']) t.notOk(existsSync(join(app, 'node_modules', dev)), `${dev} (a devDependency) is not`);

  const cli = (...argv: string[]): string => execFileSync(process.execPath, [join(app, 'bin', 'gatehouse.js'), ...argv], { encoding: 'utf8', cwd: app });
  t.equal(cli('--version').trim(), `gatehouse ${(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version}`, '--version');
  t.match(cli('config', 'check', '--config', join(runtimeRoot, 'etc', 'gatehouse', 'gatehouse.yaml')), /is valid/, 'the image config passes config check');

  const upstream = await startUpstream(t);
  const { file } = writeConfig({
    deployments: [
      { name: 'open', access: 'public', upstreams: [upstream.url] },
      { name: 'guarded', access: 'protected', upstreams: [upstream.url] },
    ],
  });
  const minted = cli('token', 'create', '--name', 'image', '--user-deployment', 'guarded', '--config', file, '--json');
  const { secret } = JSON.parse(minted) as { secret: string };

  const child = spawn(process.execPath, [join(app, 'bin', 'gatehouse.js'), 'serve', '--config', file], { cwd: app, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { out += d.toString(); });
  const exited = new Promise<number | null>((res) => child.once('exit', res));
  t.teardown(async () => {
    if (child.exitCode === null) child.kill('SIGKILL');
    await exited;
  });
  t.not(await within(30_000, async () => out.includes('"gatehouse started"'), Date.now(), 100), null, `serve starts from the runtime folder\n${out}`);
  const line = out.split('\n').find((l) => l.includes('"gatehouse started"')) ?? '{}';
  const listeners = (JSON.parse(line) as { listeners: { kind: string; address: string }[] }).listeners;
  const port = Number(listeners.find((l) => l.kind === 'external')?.address.split(':').pop());
  const admin = Number(listeners.find((l) => l.kind === 'admin')?.address.split(':').pop());

  t.equal((await get(`http://127.0.0.1:${port}/hello`, { host: hostOf('open') })).status, 200, 'a public request passes');
  t.equal((await get(`http://127.0.0.1:${port}/hello`, { host: hostOf('guarded'), authorization: `Bearer ${secret}` })).status, 200, 'a protected one with a token');
  t.equal((await get(`http://127.0.0.1:${port}/hello`, { host: hostOf('guarded') })).status, 401, 'and without one is refused');
  t.equal((await get(`http://127.0.0.1:${admin}/console`)).status, 200, 'the console assets are served');
  child.kill('SIGTERM');
  t.equal(await exited, 0, 'SIGTERM drains and exits 0');
});
