import { splitAddress } from './address';
import { ConfigError } from './env';
import type { RedisAccess, RedisAddress, StoreConfig } from './schema';
import type { Reader } from './validate';

const REDIS_ONLY = ['url', 'prefix', 'sentinels', 'name', 'sentinelPassword', 'cluster', 'username', 'password', 'tls'] as const;
/** Keys a `url` carries inside itself (`rediss://user:pass@host`). */
const ACCESS_KEYS = ['username', 'password', 'tls', 'sentinelPassword'] as const;

/** `store`: the embedded file, or Redis as exactly one of `url`, `sentinels` + `name`, `cluster`. */
export function readStore(r: Reader, value: unknown): StoreConfig {
  const obj = r.object(value, 'store', ['driver', 'path', ...REDIS_ONLY]);
  const driver = r.oneOf(obj.driver ?? 'embedded', 'store.driver', ['embedded', 'redis'] as const);
  if (driver === 'embedded') {
    for (const key of REDIS_ONLY) if (obj[key] !== undefined) throw new ConfigError(`store.${key}`, 'applies only to driver: redis');
    return { driver, path: r.file(obj.path ?? 'data/gatehouse.db', 'store.path') };
  }
  if (obj.path !== undefined) throw new ConfigError('store.path', 'applies only to driver: embedded');
  const prefix = obj.prefix === undefined ? 'gatehouse:' : r.string(obj.prefix, 'store.prefix');
  const given = (['url', 'sentinels', 'cluster'] as const).filter((key) => obj[key] !== undefined);
  if (given.length > 1) {
    throw new ConfigError(`store.${given[1]}`, `cannot be used with store.${given[0]}: set exactly one of url, sentinels (with name), cluster`);
  }
  if (obj.name !== undefined && obj.sentinels === undefined) throw new ConfigError('store.name', 'applies only with store.sentinels');
  if (obj.sentinelPassword !== undefined && obj.sentinels === undefined) throw new ConfigError('store.sentinelPassword', 'applies only with store.sentinels');

  if (obj.sentinels !== undefined) {
    if (obj.name === undefined) throw new ConfigError('store.name', 'is required with store.sentinels (the primary\'s name in the Sentinel config, e.g. mymaster)');
    const sentinelPassword = secret(r, obj.sentinelPassword, 'store.sentinelPassword');
    return {
      driver, prefix, sentinels: addresses(r, obj.sentinels, 'store.sentinels'), name: r.nonEmpty(obj.name, 'store.name'),
      ...access(r, obj), ...(sentinelPassword === undefined ? {} : { sentinelPassword }),
    };
  }
  if (obj.cluster !== undefined) {
    // The prefix is the token table's hash tag: `{}` would tag nothing, and a brace would end the tag early.
    if (prefix === '' || /[{}]/.test(prefix)) throw new ConfigError('store.prefix', `must be non-empty and without { or } with store.cluster (got "${prefix}")`);
    return { driver, prefix, cluster: addresses(r, obj.cluster, 'store.cluster'), ...access(r, obj) };
  }
  for (const key of ACCESS_KEYS) {
    if (obj[key] !== undefined) throw new ConfigError(`store.${key}`, 'applies only with store.sentinels or store.cluster (a url carries its own: rediss://user:password@host)');
  }
  const url = r.nonEmpty(obj.url ?? 'redis://127.0.0.1:6379/0', 'store.url');
  if (!/^rediss?:\/\//.test(url)) throw new ConfigError('store.url', 'must be a redis:// or rediss:// URL');
  return { driver, prefix, url };
}

function addresses(r: Reader, value: unknown, path: string): RedisAddress[] {
  const list = r.list(value, path).map((entry, i) => {
    const at = `${path}[${i}]`;
    const { host, port } = splitAddress(r.nonEmpty(entry, at), at);
    if (port === 0) throw new ConfigError(at, 'must name a port above 0');
    return { host, port };
  });
  if (list.length === 0) throw new ConfigError(path, 'must name at least one host:port');
  return list;
}

function access(r: Reader, obj: Record<string, unknown>): RedisAccess {
  const username = secret(r, obj.username, 'store.username');
  const password = secret(r, obj.password, 'store.password');
  return {
    ...(username === undefined ? {} : { username }),
    ...(password === undefined ? {} : { password }),
    tls: obj.tls === undefined ? false : r.boolean(obj.tls, 'store.tls'),
  };
}

/** Empty means none, so that `password: ${REDIS_PASSWORD:-}` works with and without a password. */
function secret(r: Reader, value: unknown, path: string): string | undefined {
  const text = value === undefined ? '' : r.string(value, path);
  return text === '' ? undefined : text;
}
