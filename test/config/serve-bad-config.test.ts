import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { stringify } from 'yaml';
import { runCli } from '../helpers/cli';

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-serve-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

function listen(port = 0): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

async function freePort(): Promise<number> {
  const server = await listen();
  const port = (server.address() as { port: number }).port;
  await new Promise((r) => server.close(r));
  return port;
}

/** True when something listens on the port right now. */
async function bound(port: number): Promise<boolean> {
  try {
    const server = await listen(port);
    await new Promise((r) => server.close(r));
    return false;
  } catch {
    return true;
  }
}

function config(ports: number[], overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    organization: 'acme',
    domain: 'gw.test',
    listeners: {
      external: [{ address: `127.0.0.1:${ports[0]}` }],
      internal: [{ address: `127.0.0.1:${ports[1]}` }],
      admin: [{ address: `127.0.0.1:${ports[2]}` }],
    },
    store: { driver: 'embedded', path: join(dir, 'store.db') },
    tokens: { pepper: 'p' },
    deployments: [
      { name: 'a', access: 'public', upstreams: ['http://127.0.0.1:1'] },
      { name: 'b', access: 'public', upstreams: ['http://127.0.0.1:1'] },
      { name: 'c', access: 'public', upstreams: ['http://127.0.0.1:1'] },
    ],
    ...overrides,
  };
}

let files = 0;
function write(text: string): string {
  const file = join(dir, `config-${++files}.yaml`);
  writeFileSync(file, text);
  return file;
}

t.test('a bad config: exit 1, one line naming the key path, nothing started', async (t) => {
  const ports = [await freePort(), await freePort(), await freePort()];
  const raw = config(ports);
  (raw.deployments as Array<Record<string, unknown>>)[2]!.access = 'secret';
  const file = write(stringify(raw));
  const started = Date.now();
  const run = await runCli(['serve', '--config', file], {}, 20_000);
  t.equal(run.code, 1, 'exit status 1');
  t.equal(run.stderr, `gatehouse: invalid config ${file}: deployments[2].access: must be one of private, protected, public\n`, 'one line');
  t.equal(run.stdout, '', 'no log lines: nothing started');
  t.ok(Date.now() - started < 15_000, 'exits at once');
  for (const port of ports) t.notOk(await bound(port), `port ${port} is free`);
});

t.test('other startup refusals are one line and exit 1', async (t) => {
  const ports = [await freePort(), await freePort(), await freePort()];
  const cases: Array<[string, string, RegExp]> = [
    ['unknown key', stringify(config(ports, { cache: { ttl: '1s', max: 3 } })), /^gatehouse: invalid config .*: cache\.max: unknown key/],
    ['not YAML', 'organization: [unclosed\n', /^gatehouse: invalid config .*is not valid YAML/],
    ['unset variable', stringify(config(ports, { tokens: { pepper: '${GATEHOUSE_TEST_UNSET_VAR}' } })),
      /^gatehouse: invalid config .*: tokens\.pepper: environment variable GATEHOUSE_TEST_UNSET_VAR is not set/],
  ];
  for (const [what, text, message] of cases) {
    const run = await runCli(['serve', '--config', write(text)], {}, 20_000);
    t.equal(run.code, 1, `${what}: exit 1`);
    t.match(run.stderr, message, `${what}: message`);
    t.equal(run.stderr.trimEnd().split('\n').length, 1, `${what}: one line`);
    t.equal(run.stdout, '', `${what}: nothing started`);
  }
  const missing = await runCli(['serve', '--config', join(dir, 'nope.yaml')], {}, 20_000);
  t.equal(missing.code, 1, 'missing file: exit 1');
  t.match(missing.stderr, /cannot read config file .*nope\.yaml: ENOENT/);
});

t.test('a listener that cannot bind: exit 1, the ports bound before it released', async (t) => {
  const taken = await listen();
  t.teardown(() => new Promise((r) => taken.close(r)));
  const ports = [await freePort(), await freePort(), (taken.address() as { port: number }).port];
  const run = await runCli(['serve', '--config', write(stringify(config(ports)))], {}, 20_000);
  t.equal(run.code, 1, 'exit 1 (and the process ends: nothing keeps it alive)');
  t.match(run.stderr, new RegExp(`EADDRINUSE.*127\\.0\\.0\\.1:${ports[2]}`), 'names the address');
  t.notOk(await bound(ports[0]!), 'external port released');
  t.notOk(await bound(ports[1]!), 'internal port released');
});

t.test('an embedded store that cannot be opened: exit 1', async (t) => {
  const ports = [await freePort(), await freePort(), await freePort()];
  const blocker = write('not a directory');
  const run = await runCli(['serve', '--config', write(stringify(config(ports, { store: { driver: 'embedded', path: join(blocker, 'store.db') } })))], {}, 20_000);
  t.equal(run.code, 1);
  t.match(run.stderr, /^gatehouse: .*embedded store/);
  for (const port of ports) t.notOk(await bound(port), `port ${port} is free`);
});

t.test('serve usage', async (t) => {
  const [help, bogus, extra] = await Promise.all([
    runCli(['serve', '--help'], {}), runCli(['serve', '--bogus'], {}), runCli(['serve', 'extra'], {}),
  ]);
  t.equal(help.code, 0);
  t.match(help.stdout, /--config FILE/);
  t.equal(bogus.code, 2, 'unknown flag: usage error');
  t.match(bogus.stderr, /--bogus/);
  t.equal(extra.code, 2, 'unexpected argument: usage error');
});
