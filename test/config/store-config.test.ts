import t from 'tap';
import { ConfigError } from '../../gateway/config/env';
import type { GatehouseConfig } from '../../gateway/config/schema';
import { validateConfig } from '../../gateway/config/validate';

function load(store: Record<string, unknown>, env: NodeJS.ProcessEnv = {}): GatehouseConfig {
  return validateConfig({ organization: 'acme', domain: 'example.com', store }, '/etc/gatehouse/gatehouse.yaml', env);
}

t.test('sentinels + name, and cluster, with credentials and TLS', async (t) => {
  const sentinel = load({
    driver: 'redis', sentinels: ['10.0.0.5:26379', '[fd00::6]:26379', 'sentinel-2.redis:26379'], name: 'mymaster',
    username: 'gatehouse', password: '${REDIS_PASSWORD}', sentinelPassword: '${SENTINEL_PASSWORD}', tls: true,
  }, { REDIS_PASSWORD: 'from-env', SENTINEL_PASSWORD: 'sentinel-secret' });
  t.same(sentinel.store, {
    driver: 'redis', prefix: 'gatehouse:', name: 'mymaster', username: 'gatehouse', password: 'from-env',
    sentinelPassword: 'sentinel-secret', tls: true,
    sentinels: [{ host: '10.0.0.5', port: 26379 }, { host: 'fd00::6', port: 26379 }, { host: 'sentinel-2.redis', port: 26379 }],
  });
  const cluster = load({ driver: 'redis', cluster: ['10.0.0.7:6379', '10.0.0.8:6379'], prefix: 'gh:' });
  t.same(cluster.store, { driver: 'redis', prefix: 'gh:', tls: false, cluster: [{ host: '10.0.0.7', port: 6379 }, { host: '10.0.0.8', port: 6379 }] });
  t.same(load({ driver: 'redis', cluster: ['h:6379'], password: '${NONE:-}', username: '' }).store,
    { driver: 'redis', prefix: 'gatehouse:', tls: false, cluster: [{ host: 'h', port: 6379 }] }, 'an empty password or username means none');
  t.same(load({ driver: 'redis', url: 'rediss://u:p@h:6380/2' }).store, { driver: 'redis', prefix: 'gatehouse:', url: 'rediss://u:p@h:6380/2' },
    'a url stays as it was');
});

t.test('refusals name the key path', async (t) => {
  const cases: Array<[string, Record<string, unknown>, string]> = [
    ['url and cluster', { driver: 'redis', url: 'redis://h:6379', cluster: ['h:6379'] }, 'store.cluster: cannot be used with store.url'],
    ['url and sentinels', { driver: 'redis', url: 'redis://h:6379', sentinels: ['h:26379'], name: 'm' }, 'store.sentinels: cannot be used with store.url'],
    ['sentinels and cluster', { driver: 'redis', sentinels: ['h:26379'], name: 'm', cluster: ['h:6379'] }, 'store.cluster: cannot be used with store.sentinels'],
    ['sentinels without name', { driver: 'redis', sentinels: ['h:26379'] }, 'store.name: is required with store.sentinels'],
    ['name without sentinels', { driver: 'redis', cluster: ['h:6379'], name: 'm' }, 'store.name: applies only with store.sentinels'],
    ['a sentinel that is not host:port', { driver: 'redis', sentinels: ['h:26379', 'h'], name: 'm' }, 'store.sentinels[1]: must be host:port (got "h")'],
    ['a cluster node that is a URL', { driver: 'redis', cluster: ['redis://h:6379'] }, 'store.cluster[0]: must be host:port'],
    ['port 0', { driver: 'redis', cluster: ['h:0'] }, 'store.cluster[0]: must name a port above 0'],
    ['an empty list', { driver: 'redis', cluster: [] }, 'store.cluster: must name at least one host:port'],
    ['not a list', { driver: 'redis', sentinels: 'h:26379', name: 'm' }, 'store.sentinels: must be a list'],
    ['credentials beside a url', { driver: 'redis', url: 'redis://h:6379', password: 'x' }, 'store.password: applies only with store.sentinels or store.cluster'],
    ['tls beside a url', { driver: 'redis', url: 'redis://h:6379', tls: true }, 'store.tls: applies only with store.sentinels or store.cluster'],
    ['sentinelPassword on a cluster', { driver: 'redis', cluster: ['h:6379'], sentinelPassword: 'x' }, 'store.sentinelPassword: applies only with store.sentinels'],
    ['bad tls', { driver: 'redis', cluster: ['h:6379'], tls: 'yes' }, 'store.tls: must be true or false'],
    ['an empty prefix on a cluster', { driver: 'redis', cluster: ['h:6379'], prefix: '' }, 'store.prefix: must be non-empty and without { or } with store.cluster'],
    ['a brace in the prefix on a cluster', { driver: 'redis', cluster: ['h:6379'], prefix: 'a{b}:' }, 'store.prefix: must be non-empty and without { or }'],
    ['sentinels on embedded', { driver: 'embedded', sentinels: ['h:26379'] }, 'store.sentinels: applies only to driver: redis'],
  ];
  for (const [what, store, message] of cases) {
    let err: unknown;
    try {
      load(store);
    } catch (e) {
      err = e;
    }
    t.ok(err instanceof ConfigError, `${what}: refused with a ConfigError`);
    const text = err instanceof Error ? err.message : String(err);
    t.ok(text.startsWith(message), `${what}: "${text}" starts with "${message}"`);
    t.equal((err as ConfigError).path, message.slice(0, message.indexOf(':')), `${what}: path`);
  }
});

t.test('an unreachable address is not a config error (nothing connects while validating)', async (t) => {
  t.doesNotThrow(() => load({ driver: 'redis', sentinels: ['127.0.0.1:1'], name: 'nosuch' }));
  t.doesNotThrow(() => load({ driver: 'redis', cluster: ['no-such-host.invalid:6379'] }));
});
