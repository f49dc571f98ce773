import { resolve, dirname } from 'node:path';
import { parseDuration } from './duration';
import { ConfigError, expandEnv } from './env';
import {
  ACCESS_TYPES,
  DEPLOYMENT_NAME,
  PROTOCOLS,
  type DeploymentSpec,
  type GatehouseConfig,
  MAX_WORKERS,
  type ListenerConfig,
  type Timeouts,
  type Workers,
} from './schema';
import { parseCidr } from '../http/cidr';
import { limitProblem, type Limits } from '../limits/limits';
import { splitAddress } from './address';
import { readStore } from './read-store';

type Plain = Record<string, unknown>;

function isPlain(value: unknown): value is Plain {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Walks raw YAML with a key path, so every complaint names where it is. */
export class Reader {
  constructor(
    /** null: values come from an API caller and are taken literally, never expanded. */
    private readonly env: NodeJS.ProcessEnv | null,
    private readonly baseDir: string,
  ) {}

  object(value: unknown, path: string, allowed: readonly string[]): Plain {
    if (!isPlain(value)) throw new ConfigError(path, 'must be a mapping');
    for (const key of Object.keys(value)) {
      if (!allowed.includes(key)) throw new ConfigError(join(path, key), `unknown key (expected one of ${allowed.join(', ')})`);
    }
    return value;
  }

  string(value: unknown, path: string): string {
    if (value === undefined || value === null) throw new ConfigError(path, 'is required');
    if (typeof value === 'number') value = String(value);
    if (typeof value !== 'string') throw new ConfigError(path, 'must be a string');
    return this.env ? expandEnv(value, this.env, path) : value;
  }

  nonEmpty(value: unknown, path: string): string {
    const text = this.string(value, path);
    if (text === '') throw new ConfigError(path, 'must not be empty');
    return text;
  }

  oneOf<T extends string>(value: unknown, path: string, choices: readonly T[]): T {
    const text = this.string(value, path);
    if (!(choices as readonly string[]).includes(text)) throw new ConfigError(path, `must be one of ${choices.join(', ')}`);
    return text as T;
  }

  duration(value: unknown, path: string): number {
    const text = this.string(value, path);
    const ms = parseDuration(text);
    if (ms === undefined) throw new ConfigError(path, `must be a duration like 500ms, 30s, 5m, 1h or 30d (got "${text}")`);
    // Node runs a longer timer after 1 ms: a 30d response timeout would fail every gRPC call at once.
    if (ms > MAX_TIMER_MS) throw new ConfigError(path, `must be at most 24d (got "${text}")`);
    return ms;
  }

  count(value: unknown, path: string, min: number): number {
    const n = typeof value === 'string' ? Number(this.string(value, path)) : value;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < min) throw new ConfigError(path, `must be a whole number of at least ${min}`);
    return n;
  }

  boolean(value: unknown, path: string): boolean {
    if (typeof value === 'boolean') return value;
    const text = this.string(value, path);
    if (text === 'true') return true;
    if (text === 'false') return false;
    throw new ConfigError(path, 'must be true or false');
  }

  list(value: unknown, path: string): unknown[] {
    if (value === undefined || value === null) throw new ConfigError(path, 'is required');
    if (!Array.isArray(value)) throw new ConfigError(path, 'must be a list');
    return value;
  }

  file(value: unknown, path: string): string {
    return resolve(this.baseDir, this.nonEmpty(value, path));
  }
}

function join(path: string, key: string | number): string {
  return typeof key === 'number' ? `${path}[${key}]` : path ? `${path}.${key}` : key;
}

/** The longest delay Node's timers keep (2^31-1 ms, about 24.8 days). */
const MAX_TIMER_MS = 2_147_483_647;

const DEFAULT_TIMEOUTS: Timeouts = { connect: 5_000, response: 300_000, idle: 300_000 };

/** Validates parsed YAML into a deep-frozen config. Throws ConfigError naming the key path. */
export function validateConfig(raw: unknown, source: string, env: NodeJS.ProcessEnv = process.env): GatehouseConfig {
  const r = new Reader(env, dirname(resolve(source)));
  const top = r.object(raw ?? {}, '', [
    'organization', 'domain', 'listeners', 'store', 'tokens', 'cache', 'timeouts',
    'failedAuth', 'trustedProxies', 'workers', 'shutdown', 'log', 'audit', 'deployments',
  ]);

  const organization = r.nonEmpty(top.organization, 'organization');
  if (!DEPLOYMENT_NAME.test(organization)) throw new ConfigError('organization', 'must be a DNS label');
  const domain = r.nonEmpty(top.domain, 'domain').toLowerCase();
  // Every default host ends with it: a port or a trailing dot would make none of them match a request.
  if (!/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/.test(domain)) throw new ConfigError('domain', `must be a DNS name like cloud-apps.example.com (got "${domain}")`);

  const listenersRaw = r.object(top.listeners ?? {}, 'listeners', ['external', 'internal', 'admin']);
  const listeners = {
    external: readListeners(r, listenersRaw.external, 'listeners.external'),
    internal: readListeners(r, listenersRaw.internal, 'listeners.internal'),
    admin: readListeners(r, listenersRaw.admin, 'listeners.admin'),
  };

  const store = readStore(r, top.store ?? { driver: 'embedded' });

  const tokensRaw = r.object(top.tokens ?? {}, 'tokens', ['pepper']);
  const pepper = tokensRaw.pepper === undefined ? '' : r.string(tokensRaw.pepper, 'tokens.pepper');

  const cacheRaw = r.object(top.cache ?? {}, 'cache', ['maxEntries', 'ttl', 'negativeTtl', 'staleIfError']);
  const cache = {
    maxEntries: cacheRaw.maxEntries === undefined ? 100_000 : r.count(cacheRaw.maxEntries, 'cache.maxEntries', 1),
    ttl: cacheRaw.ttl === undefined ? 30_000 : r.duration(cacheRaw.ttl, 'cache.ttl'),
    negativeTtl: cacheRaw.negativeTtl === undefined ? 5_000 : r.duration(cacheRaw.negativeTtl, 'cache.negativeTtl'),
    staleIfError: cacheRaw.staleIfError === undefined ? 300_000 : r.duration(cacheRaw.staleIfError, 'cache.staleIfError'),
  };

  const timeouts = { ...DEFAULT_TIMEOUTS, ...readTimeouts(r, top.timeouts, 'timeouts') };

  const failedRaw = r.object(top.failedAuth ?? {}, 'failedAuth', ['perMinute']);
  const failedAuth = { perMinute: failedRaw.perMinute === undefined ? 30 : r.count(failedRaw.perMinute, 'failedAuth.perMinute', 1) };

  const trustedProxies = r.list(top.trustedProxies ?? [], 'trustedProxies').map((entry, i) => {
    const path = join('trustedProxies', i);
    const text = r.nonEmpty(entry, path);
    if (!parseCidr(text)) throw new ConfigError(path, `must be an IP address or CIDR (got "${text}")`);
    return text;
  });

  const workersRaw = top.workers ?? 'auto';
  const workers = readWorkers(typeof workersRaw === 'string' || typeof workersRaw === 'number' ? r.string(workersRaw, 'workers') : JSON.stringify(workersRaw), 'workers');

  const shutdownRaw = r.object(top.shutdown ?? {}, 'shutdown', ['grace']);
  const shutdown = { grace: shutdownRaw.grace === undefined ? 30_000 : r.duration(shutdownRaw.grace, 'shutdown.grace') };

  const auditRaw = r.object(top.audit ?? {}, 'audit', ['retention']);
  const audit = { retention: auditRaw.retention === undefined ? 90 * DAY_MS : readRetention(r, auditRaw.retention, 'audit.retention') };

  const logRaw = r.object(top.log ?? {}, 'log', ['level']);
  const log = { level: logRaw.level === undefined ? 'info' : r.oneOf(logRaw.level, 'log.level', ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']) };

  const deployments = r.list(top.deployments ?? [], 'deployments').map((entry, i) => readDeployment(r, entry, join('deployments', i)));
  const seen = new Set<string>();
  deployments.forEach((d, i) => {
    if (seen.has(d.name)) throw new ConfigError(join(join('deployments', i), 'name'), `duplicate Deployment name "${d.name}"`);
    seen.add(d.name);
  });
  // The route table gives a host to the first Deployment that names it: a second claim would be silently unreachable.
  const hostOwners = new Map<string, string>();
  deployments.forEach((d, i) => {
    const at = join('deployments', i);
    const claim = (host: string, path: string, what: string): void => {
      const owner = hostOwners.get(host);
      if (owner !== undefined && owner !== d.name) throw new ConfigError(path, `${what} is already used by Deployment "${owner}"`);
      hostOwners.set(host, d.name);
    };
    const defaultHost = `${d.name}.${organization}.${domain}`;
    claim(defaultHost, join(at, 'name'), `its default host "${defaultHost}"`);
    d.hosts.forEach((host, j) => claim(host, join(join(at, 'hosts'), j), `host "${host}"`));
  });

  return deepFreeze({
    source: resolve(source), organization, domain, listeners, store, tokens: { pepper }, cache, timeouts,
    failedAuth, trustedProxies, workers, shutdown, log, audit, deployments,
  });
}

/** `auto` or a whole number from 1 to MAX_WORKERS; also what `serve --workers` takes. */
export function readWorkers(text: string, path: string): Workers {
  if (text === 'auto') return 'auto';
  const n = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isInteger(n) || n < 1 || n > MAX_WORKERS) throw new ConfigError(path, `must be a whole number from 1 to ${MAX_WORKERS}, or auto (got "${text}")`);
  return n;
}

const DAY_MS = 86_400_000;

/** Kept in the store, never a timer: may exceed a timer's 24 days; at least a day, so a typo in the unit cannot empty the log. */
function readRetention(r: Reader, value: unknown, path: string): number {
  const text = r.string(value, path);
  const ms = parseDuration(text);
  if (ms === undefined || ms < DAY_MS || ms > 3650 * DAY_MS) throw new ConfigError(path, `must be a duration from 1d to 3650d, like 90d (got "${text}")`);
  return ms;
}

function readListeners(r: Reader, value: unknown, path: string): ListenerConfig[] {
  return r.list(value ?? [], path).map((entry, i) => {
    const at = join(path, i);
    const obj = r.object(entry, at, ['address', 'tls']);
    const address = r.nonEmpty(obj.address, join(at, 'address'));
    const { host, port } = splitAddress(address, join(at, 'address'));
    if (obj.tls === undefined) return { address, host, port };
    const tls = r.object(obj.tls, join(at, 'tls'), ['cert', 'key']);
    return { address, host, port, tls: { certFile: r.file(tls.cert, join(at, 'tls.cert')), keyFile: r.file(tls.key, join(at, 'tls.key')) } };
  });
}

function readTimeouts(r: Reader, value: unknown, path: string): Partial<Timeouts> {
  const obj = r.object(value ?? {}, path, ['connect', 'response', 'idle']);
  const out: { connect?: number; response?: number; idle?: number } = {};
  for (const key of ['connect', 'response', 'idle'] as const) {
    if (obj[key] === undefined) continue;
    const ms = r.duration(obj[key], join(path, key));
    // 0 would mean "no limit" to some timers and "expire now" to others (every gRPC call fails).
    if (ms === 0) throw new ConfigError(join(path, key), `must be longer than 0 (got "${String(obj[key])}")`);
    out[key] = ms;
  }
  return out;
}

/** Validates one Deployment; shared by the config file and the admin API. */
export function readDeployment(r: Reader, value: unknown, path: string): DeploymentSpec {
  const obj = r.object(value, path, ['name', 'access', 'protocol', 'upstreams', 'hosts', 'forwardAuthorization', 'timeouts', 'limits']);
  const name = r.nonEmpty(obj.name, join(path, 'name'));
  if (!DEPLOYMENT_NAME.test(name)) throw new ConfigError(join(path, 'name'), `must be a DNS label ([a-z0-9-], at most 63 characters; got "${name}")`);
  const access = r.oneOf(obj.access, join(path, 'access'), ACCESS_TYPES);
  const protocol = r.oneOf(obj.protocol ?? 'http', join(path, 'protocol'), PROTOCOLS);
  const upstreams = r.list(obj.upstreams, join(path, 'upstreams')).map((u, i) => {
    const at = join(join(path, 'upstreams'), i);
    const text = r.nonEmpty(u, at);
    const url = URL.parse(text);
    if (url === null || (url.protocol !== 'http:' && url.protocol !== 'https:')) throw new ConfigError(at, `must be an http:// or https:// URL (got "${text}")`);
    if (url.pathname !== '/' || url.search || url.hash || url.username) throw new ConfigError(at, 'must be an origin (scheme, host and port only)');
    return url.origin;
  });
  if (upstreams.length === 0) throw new ConfigError(join(path, 'upstreams'), 'must name at least one upstream');
  const hosts = r.list(obj.hosts ?? [], join(path, 'hosts')).map((h, i) => {
    const at = join(join(path, 'hosts'), i);
    const host = r.nonEmpty(h, at).toLowerCase();
    if (!/^(\*\.)?[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/.test(host)) {
      throw new ConfigError(at, `must be a host name, or *. and a host name for any one label in front of it (got "${host}")`);
    }
    return host;
  });
  const forwardAuthorization = obj.forwardAuthorization === undefined ? false : r.boolean(obj.forwardAuthorization, join(path, 'forwardAuthorization'));
  const timeouts = readTimeouts(r, obj.timeouts, join(path, 'timeouts'));
  const limits = readLimits(r, obj.limits, join(path, 'limits'));
  return limits === undefined
    ? { name, access, protocol, upstreams, hosts, forwardAuthorization, timeouts }
    : { name, access, protocol, upstreams, hosts, forwardAuthorization, timeouts, limits };
}

/** A Deployment's default limits; undefined when none is set (absent, null or empty). */
function readLimits(r: Reader, value: unknown, path: string): Limits | undefined {
  if (value === undefined || value === null) return undefined;
  const obj = r.object(value, path, ['requestsPerMinute', 'concurrent']);
  const out: { requestsPerMinute?: number; concurrent?: number } = {};
  for (const key of ['requestsPerMinute', 'concurrent'] as const) {
    const raw = obj[key];
    if (raw === undefined || raw === null) continue;
    // A string is a number written through `${VAR}` expansion.
    const n = typeof raw === 'string' ? Number(r.string(raw, join(path, key)).trim() || NaN) : raw;
    const problem = limitProblem(n);
    if (problem !== null) throw new ConfigError(join(path, key), `${problem} (got ${JSON.stringify(raw)})`);
    out[key] = n as number;
  }
  return out.requestsPerMinute === undefined && out.concurrent === undefined ? undefined : out;
}

/** Validates a Deployment given as plain data (the admin API, the CLI). */
export function validateDeployment(value: unknown, path = ''): DeploymentSpec {
  return deepFreeze(readDeployment(new Reader(null, process.cwd()), value, path));
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
