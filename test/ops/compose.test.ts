import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import t from 'tap';
import { parse } from 'yaml';
import { loadConfig } from '../../gateway/config/load';

// No Docker engine runs here: this checks what can be checked without one — the file
// parses, the services are the ones the README describes, and every path it mounts or
// names exists in the checkout.
const ROOT = resolve(__dirname, '..', '..');

interface Service {
  build?: string | { context: string };
  image?: string;
  command?: string[];
  working_dir?: string;
  volumes?: string[];
  ports?: string[];
  environment?: Record<string, string>;
  depends_on?: Record<string, unknown>;
}

const compose = parse(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as { services: Record<string, Service> };
const services = compose.services;

/** Compose's `${VAR:-default}` in a value, resolved with no environment set. */
function withDefaults(value: string): string {
  return value.replace(/\$\{[A-Z_]+:-([^}]*)\}/g, '$1');
}

t.test('the services: Redis, an example upstream, two Gatehouse replicas', async (t) => {
  t.same(Object.keys(services).sort(), ['gatehouse-1', 'gatehouse-2', 'redis', 'upstream']);
  t.match(services.redis.image, /^redis:/);
  t.match(services.upstream.command, ['node', 'examples/upstream.js', '3000']);
  for (const name of ['gatehouse-1', 'gatehouse-2']) {
    const s = services[name];
    t.same(s.build, '.', `${name}: built from the repository's Dockerfile`);
    t.equal(s.image, 'gatehouse:local', `${name}: one image for both replicas`);
    t.equal(s.command, undefined, `${name}: the image's own command (gatehouse serve), no npm ci at start`);
    t.ok(s.volumes?.includes('./config/gatehouse.redis.yaml:/etc/gatehouse/gatehouse.yaml:ro'), `${name}: the Redis config where the image reads its config`);
    t.ok(s.depends_on && 'redis' in s.depends_on, `${name}: starts after Redis`);
  }
  const published = ['gatehouse-1', 'gatehouse-2'].flatMap((n) => services[n].ports ?? []).map((p) => p.split(':').slice(0, -1).join(':'));
  t.equal(new Set(published).size, published.length, 'the replicas publish different host ports');
  t.ok(published.every((p) => p.startsWith('127.0.0.1:')), 'on the host loopback only (the admin listener is not public)');
});

t.test('every mounted path exists', async (t) => {
  let binds = 0;
  for (const [name, s] of Object.entries(services)) {
    for (const volume of s.volumes ?? []) {
      const [source] = volume.split(':');
      if (!source.startsWith('.') && !source.startsWith('/')) continue; // a named volume
      if (!volume.includes(':')) continue; // an anonymous volume: a container path only
      binds++;
      t.ok(existsSync(resolve(ROOT, source)), `${name}: ${source} exists`);
    }
  }
  t.ok(binds >= 3, 'the config and the examples are mounted');
  t.ok(existsSync(join(ROOT, 'examples', 'upstream.js')), 'the upstream script is in the mounted folder');
  t.ok(existsSync(join(ROOT, 'Dockerfile')), 'the image has a Dockerfile to build from');
});

t.test('both replicas load the same Redis config, with the environment compose gives them', async (t) => {
  const env = services['gatehouse-1'].environment ?? {};
  t.same(services['gatehouse-2'].environment, env, 'the same environment (one pepper for both)');
  const resolved = Object.fromEntries(Object.entries(env).map(([k, v]) => [k, withDefaults(String(v))]));
  const config = loadConfig(join(ROOT, 'config', 'gatehouse.redis.yaml'), resolved);
  t.same(config.store, { driver: 'redis', url: 'redis://redis:6379/0', prefix: 'gatehouse:' }, 'the redis service');
  t.equal(config.listeners.external[0].host, '0.0.0.0', 'listening on the container interface');
  t.equal(config.listeners.admin[0].port, 9090);
  t.ok(config.deployments.every((d) => d.upstreams.every((u) => u === 'http://upstream:3000')), 'the Deployments point at the upstream service');
  t.ok(config.tokens.pepper.length >= 16, 'a pepper is set');
});
