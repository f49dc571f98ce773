import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import t from 'tap';
import { loadConfig } from '../../gateway/config/load';

const CONFIG_DIR = resolve(__dirname, '..', '..', 'config');

/** What each shipped example is for. Examples added later must load too (the loop below). */
const EXAMPLES: Record<string, (config: ReturnType<typeof loadConfig>) => string[]> = {
  'gatehouse.yaml': (c) => (c.store.driver === 'embedded' ? [] : ['the quick start uses the embedded store']),
  'gatehouse.redis.yaml': (c) => (c.store.driver === 'redis' ? [] : ['uses the Redis store']),
  'gatehouse.sentinel.yaml': (c) => (c.store.driver === 'redis' && 'sentinels' in c.store && c.store.name !== '' ? [] : ['uses a Sentinel store']),
  'gatehouse.tls.yaml': (c) => ([...c.listeners.external, ...c.listeners.internal].some((l) => l.tls) ? [] : ['has a TLS listener']),
  // The image's default: Deployments come from the API, into the store in the /data volume.
  'gatehouse.container.yaml': (c) => [
    ...(Object.values(c.listeners).flat().every((l) => l.host === '0.0.0.0') ? [] : ['listens on every interface of the container']),
    ...(c.store.driver === 'embedded' && c.store.path === '/data/gatehouse.db' ? [] : ['keeps the embedded store in /data']),
  ],
};

/** Examples that start with no Deployments of their own. */
const WITHOUT_DEPLOYMENTS = new Set(['gatehouse.container.yaml']);

t.test('the default config exists', async (t) => {
  t.ok(existsSync(join(CONFIG_DIR, 'gatehouse.yaml')));
});

for (const file of readdirSync(CONFIG_DIR).filter((f) => /\.ya?ml$/.test(f))) {
  t.test(`config/${file} loads`, async (t) => {
    // With no environment at all: every variable an example uses needs a default.
    const config = loadConfig(join(CONFIG_DIR, file), {});
    t.ok(Object.isFrozen(config));
    if (!WITHOUT_DEPLOYMENTS.has(file)) t.ok(config.deployments.length > 0, 'it shows Deployments');
    t.ok(config.listeners.external.length > 0 && config.listeners.admin.length > 0, 'external and admin listeners');
    t.same(EXAMPLES[file]?.(config) ?? [], [], 'fits its purpose');
    for (const l of [...config.listeners.external, ...config.listeners.internal]) {
      if (l.tls) t.ok(l.tls.certFile.startsWith('/') && l.tls.keyFile.startsWith('/'), 'TLS files resolve to absolute paths');
    }
  });
}

t.test('paths resolve against the config file, variables take their defaults', async (t) => {
  const config = loadConfig(join(CONFIG_DIR, 'gatehouse.yaml'), {});
  t.same(config.store, { driver: 'embedded', path: resolve(CONFIG_DIR, '..', 'data', 'gatehouse.db') });
  t.ok(config.tokens.pepper.length > 0, 'a quick-start pepper by default');
  const withPepper = loadConfig(join(CONFIG_DIR, 'gatehouse.yaml'), { GATEHOUSE_PEPPER: 'from-env' });
  t.equal(withPepper.tokens.pepper, 'from-env', 'GATEHOUSE_PEPPER wins');
});

t.test('each example config has its own store: one pepper never meets the tokens of another', async (t) => {
  const stores = readdirSync(CONFIG_DIR).filter((f) => /\.ya?ml$/.test(f)).map((f) => loadConfig(join(CONFIG_DIR, f), {}).store)
    .map((s) => (s.driver === 'embedded' ? s.path : JSON.stringify(s)));
  t.equal(new Set(stores).size, stores.length, stores.join(', '));
});

t.test('the Redis example takes its ports from the environment: a second replica on the same host needs no edit', async (t) => {
  const file = join(CONFIG_DIR, 'gatehouse.redis.yaml');
  const first = loadConfig(file, {});
  const second = loadConfig(file, { GATEHOUSE_EXTERNAL_PORT: '8081', GATEHOUSE_INTERNAL_PORT: '8091', GATEHOUSE_ADMIN_PORT: '9091' });
  const ports = (c: ReturnType<typeof loadConfig>) => [c.listeners.external[0]!.port, c.listeners.internal[0]!.port, c.listeners.admin[0]!.port];
  t.same(ports(first), [8080, 8090, 9090], 'the defaults');
  t.same(ports(second), [8081, 8091, 9091]);
  t.same(second.store, first.store, 'the same store');
});

t.test('the example configs route iris to the example gRPC upstream', async (t) => {
  for (const file of ['gatehouse.yaml', 'gatehouse.tls.yaml']) {
    const iris = loadConfig(join(CONFIG_DIR, file), {}).deployments.find((d) => d.name === 'iris');
    t.match(iris, { protocol: 'grpc', upstreams: ['http://127.0.0.1:3001'] }, file);
  }
  t.ok(existsSync(join(CONFIG_DIR, '..', 'examples', 'grpc-upstream.js')) && existsSync(join(CONFIG_DIR, '..', 'examples', 'iris.proto')));
});
