import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { stringify } from 'yaml';
import { UsageError } from '../../gateway/cli/args';
import { serve } from '../../gateway/cli/serve';
import { runCli } from '../helpers/cli';
import { freePort, listenOn } from '../helpers/ports';

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-serve-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

/** True when something listens on the port right now. */
async function bound(port: number): Promise<boolean> {
  try {
    const server = await listenOn(port);
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

// Every run starts at once (the helper queues beyond a few): each process spends seconds compiling TypeScript.
t.test('serve refuses to start, exits 1 with one line, and leaves no port bound', async (t) => {
  const badPorts = [await freePort(), await freePort(), await freePort()];
  const bad = config(badPorts);
  (bad.deployments as Array<Record<string, unknown>>)[2]!.access = 'secret';
  const badFile = write(stringify(bad));

  const taken = await listenOn();
  t.teardown(() => new Promise((r) => taken.close(r)));
  const bindPorts = [await freePort(), await freePort(), (taken.address() as { port: number }).port];

  const storePorts = [await freePort(), await freePort(), await freePort()];
  const blocker = write('not a directory');
  const storeFile = write(stringify(config(storePorts, { store: { driver: 'embedded', path: join(blocker, 'store.db') } })));

  const [badRun, bindRun, storeRun, help] = await Promise.all([
    runCli(['serve', '--config', badFile], {}),
    runCli(['serve', '--config', write(stringify(config(bindPorts)))], {}),
    runCli(['serve', '--config', storeFile], {}),
    runCli(['serve', '--help'], {}),
  ]);

  t.test('a bad value', async (t) => {
    t.equal(badRun.code, 1, 'exit status 1');
    t.equal(badRun.stderr, `gatehouse: invalid config ${badFile}: deployments[2].access: must be one of private, protected, public\n`, 'one line naming the key path');
    t.equal(badRun.stdout, '', 'no log lines: nothing started');
    for (const port of badPorts) t.notOk(await bound(port), `port ${port} is free`);
  });

  t.test('a missing file (in process: the same code, one process fewer)', async (t) => {
    t.equal(await serve(['--config', join(dir, 'nope.yaml')]), 1);
  });

  t.test('a listener that cannot bind: the ports bound before it are released', async (t) => {
    t.equal(bindRun.code, 1, 'exit 1 (and the process ended: nothing kept it alive)');
    t.match(bindRun.stderr, new RegExp(`EADDRINUSE.*127\\.0\\.0\\.1:${bindPorts[2]}`), 'names the address');
    t.notOk(await bound(bindPorts[0]!), 'external port released');
    t.notOk(await bound(bindPorts[1]!), 'internal port released');
  });

  t.test('an embedded store that cannot be opened', async (t) => {
    t.equal(storeRun.code, 1);
    t.match(storeRun.stderr, /^gatehouse: .*embedded store/);
    for (const port of storePorts) t.notOk(await bound(port), `port ${port} is free`);
  });

  t.test('usage', async (t) => {
    t.equal(help.code, 0);
    t.match(help.stdout, /--config FILE/);
    await t.rejects(serve(['--bogus']), { constructor: UsageError, message: /--bogus/ }, 'unknown flag: a usage error (exit 2)');
  });
});
