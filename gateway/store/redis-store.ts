import type Redis from 'ioredis';
import type { Cluster } from 'ioredis';
import type { DeploymentSpec, RedisStoreConfig } from '../config/schema';
import type { LimitStore } from '../limits/limit-store';
import { RedisLimitStore } from '../limits/redis-limits';
import { RedisAudit } from './redis-audit';
import { MAX_RECONNECT_DELAY_MS, openConnections } from './redis-connections';
import { redisKeys } from './redis-keys';
import { scriptRunner, type RunScript } from './redis-scripts';
import { EventSubscriber } from './redis-subscriber';
import { RedisUsage } from './redis-usage';
import {
  applyTokenPatch, StoreUnavailableError,
  type AuditEvent, type Store, type StoreEvent, type TokenPatch, type TokenRecord, type UsageCount,
} from './types';

export type { RedisStoreConfig };

/** What happened to the store's connections, for the metrics. */
export type ConnectionEvent =
  /** A connection (commands or events) is back after being lost. */
  | 'commands_reconnected' | 'events_reconnected'
  /** The primary answering is not the one answering before (Sentinel promoted a replica; a cluster's primaries changed). */
  | 'failover';

/** Tuning for {@link RedisStore.connect}; the defaults suit a gateway. */
export interface RedisStoreOptions {
  /** How long `connect` waits for the first connection before returning anyway. Default 2000 ms. */
  readonly connectWaitMs?: number;
  /** A command without a reply for this long fails (a hung server must not hang requests). Default 1000 ms. */
  readonly commandTimeoutMs?: number;
  /** Receives connection errors, for logging; the store reconnects by itself. */
  readonly onError?: (err: Error) => void;
  /** Told of reconnections and failovers, for the metrics. */
  readonly onConnectionEvent?: (event: ConnectionEvent) => void;
}

export { MAX_RECONNECT_DELAY_MS };
export { SUBSCRIBER_PING_MS } from './redis-subscriber';
const CAS_ATTEMPTS = 5;
const MGET_CHUNK = 500;

// Mutations are Lua scripts so that the write and its PUBLISH happen together:
// no process can see the new state without the event having been sent.
// EVAL (not EVALSHA) keeps a restarted, script-less Redis a non-event; Redis caches the compiled script.
const CREATE_TOKEN = `
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 or redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('SET', KEYS[2], ARGV[3])
redis.call('PUBLISH', ARGV[4], ARGV[5])
return 1`;
/** Compare-and-set on the record JSON: -1 gone, 0 changed meanwhile (retry), 1 written. Publishes ARGV[6..] (none: no event). */
const REPLACE_TOKEN = `
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return -1 end
if redis.call('GET', KEYS[2]) ~= ARGV[3] then return 0 end
redis.call('SET', KEYS[2], ARGV[4])
for i = 6, #ARGV do redis.call('PUBLISH', ARGV[5], ARGV[i]) end
return 1`;
/** KEYS[3], when given, is the previous secret's alias key: deleted if it still points at this token. */
const DELETE_TOKEN = `
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[2])
if #KEYS > 2 and redis.call('GET', KEYS[3]) == '@' .. ARGV[2] then redis.call('DEL', KEYS[3]) end
for i = 4, #ARGV do redis.call('PUBLISH', ARGV[3], ARGV[i]) end
return 1`;
/**
 * Moves the record from the current hash's key (KEYS[2]) to the new one's
 * (KEYS[3]), with the same compare-and-set as REPLACE_TOKEN. The current key
 * becomes an alias (`@<new hash>`) that Redis expires when the overlap ends;
 * an older alias (KEYS[4]) is dropped.
 */
const ROTATE_TOKEN = `
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return -1 end
if redis.call('GET', KEYS[2]) ~= ARGV[3] then return 0 end
if #KEYS > 3 and redis.call('GET', KEYS[4]) == '@' .. ARGV[2] then redis.call('DEL', KEYS[4]) end
redis.call('SET', KEYS[3], ARGV[5])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[4])
if tonumber(ARGV[6]) > 0 then redis.call('SET', KEYS[2], '@' .. ARGV[4], 'PX', ARGV[6]) else redis.call('DEL', KEYS[2]) end
for i = 8, #ARGV do redis.call('PUBLISH', ARGV[7], ARGV[i]) end
return 1`;
const PUT_DEPLOYMENT = `
local created = redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PUBLISH', ARGV[3], ARGV[4])
return created`;
/** SET NX, then the value kept: the first process's fingerprint wins, every later one reads it. */
const CLAIM = `
redis.call('SET', KEYS[1], ARGV[1], 'NX')
return redis.call('GET', KEYS[1])`;
const DELETE_DEPLOYMENT = `
local deleted = redis.call('HDEL', KEYS[1], ARGV[1])
if deleted == 1 then redis.call('PUBLISH', ARGV[2], ARGV[3]) end
return deleted`;

/**
 * Server replies that mean "not serving right now" (the prefix is Redis's
 * error code); any other reply error is a real failure, not an outage. OOM
 * (maxmemory reached) and MISCONF (cannot persist) refuse writes until an
 * operator or eviction frees room: a client may retry later.
 */
const UNAVAILABLE_REPLIES = /^(LOADING|BUSY|MASTERDOWN|TRYAGAIN|CLUSTERDOWN|READONLY|NOREPLICAS|OOM|MISCONF)\b/;

function wrap(err: unknown): unknown {
  if (err instanceof Error && err.name === 'ReplyError' && !UNAVAILABLE_REPLIES.test(err.message)) return err;
  // Everything else from ioredis is about the connection: refused, closed,
  // not ready (offline queue disabled), timed out, retries exhausted.
  const message = err instanceof Error ? err.message : String(err);
  return new StoreUnavailableError(`redis store unavailable: ${message}`, { cause: err });
}

function parseEvent(message: string): StoreEvent | null {
  let value: unknown;
  try {
    value = JSON.parse(message);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null) return null;
  const o = value as Record<string, unknown>;
  if (o.kind === 'token' && typeof o.id === 'string' && typeof o.hash === 'string') return { kind: 'token', id: o.id, hash: o.hash };
  if (o.kind === 'deployment' && typeof o.name === 'string') return { kind: 'deployment', name: o.name };
  return null; // from a newer version, or not ours: nothing to invalidate
}

/** A record as kept in Redis: with its previous secret's hash while one may still be in use. */
type StoredRecord = TokenRecord & { readonly previous?: { readonly hash: string; readonly until: string } };

/** The record without the store's own bookkeeping. */
function fromJson(json: string): TokenRecord {
  const { previous: _previous, ...record } = JSON.parse(json) as StoredRecord;
  return record;
}

/** The key value a previous secret's hash holds during its overlap: `@` and the current hash. */
const ALIAS = 0x40; /* @ */

const byCreation = (a: TokenRecord, b: TokenRecord): number =>
  a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0;

/**
 * The shared store for many gateway processes, on one Redis server, a
 * Sentinel-managed primary or a Redis Cluster. Keys (named by {@link redisKeys}):
 * `token:hash:<hash>` the record JSON (so the hot-path lookup is one GET),
 * `token:ids` a HASH id -> hash, `token:pepper-fingerprint` the pepper's fingerprint,
 * `deployments` a HASH name -> spec JSON, all
 * in the token table's slot, `limits:{<token id>}:<scope>` a HASH of one
 * token's limit counters (scope '' for its own limits, else the Deployment
 * whose defaults apply; always tagged with the token id), and the pub/sub
 * channel `events`.
 *
 * Built to fail fast: with Redis down every call rejects at once with
 * {@link StoreUnavailableError} (no offline queue, no retries of a command),
 * while the connections keep reconnecting in the background.
 */
export class RedisStore implements Store {
  readonly driver = 'redis' as const;
  private readonly redis: Redis | Cluster;
  private readonly clustered: boolean;
  private readonly subscriber: EventSubscriber;
  private readonly listeners: Array<(event: StoreEvent) => void> = [];
  private readonly key: {
    readonly ids: string; readonly tokenByHash: string; readonly pepperFingerprint: string; readonly deployments: string; readonly channel: string;
    readonly audit: string; readonly limits: string;
  };
  private readonly usage: RedisUsage;
  private readonly audit: RedisAudit;
  /** The hot path's scripts (limits) and the batched writes (usage, audit), by EVALSHA. */
  private readonly run: RunScript;
  private subscribedOnce = false;
  /** Set when `connect` has returned: a subscription made after that may have missed changes. */
  private handedOut = false;
  private readonly firstSubscription: Promise<void>;
  private markSubscribed: () => void = () => {};
  /** Who answered the commands last: a different one after a reconnect is a failover. */
  private primary: string | undefined;
  private readyBefore = false;
  private closed = false;

  /**
   * Creates the store and waits up to `connectWaitMs` for Redis. Never
   * rejects because Redis is down: the store is returned anyway, its calls
   * fail with {@link StoreUnavailableError} until Redis answers (use `ping`
   * for readiness), and it connects in the background. A subscription
   * (re)established after `connect` returned is announced as a `reset`
   * event, since changes may have been missed meanwhile.
   */
  static async connect(config: RedisStoreConfig, options: RedisStoreOptions = {}): Promise<RedisStore> {
    const store = new RedisStore(config, options);
    await store.settle(options.connectWaitMs ?? 2_000);
    store.handedOut = true;
    return store;
  }

  private constructor(config: RedisStoreConfig, options: RedisStoreOptions) {
    const onError = options.onError ?? (() => {});
    const seen = options.onConnectionEvent ?? (() => {});
    const connections = openConnections(config, { commandTimeoutMs: options.commandTimeoutMs ?? 1_000 });
    this.redis = connections.commands;
    this.clustered = connections.clustered;
    const keys = redisKeys(config.prefix, connections.clustered);
    this.key = {
      ids: keys.table('token:ids'), tokenByHash: keys.table('token:hash:'), pepperFingerprint: keys.table('token:pepper-fingerprint'),
      deployments: keys.table('deployments'),
      channel: keys.channel, audit: keys.table('audit'),
      // Limit keys are per token and always carry the token id's hash tag (see limitStore).
      limits: `${config.prefix}limits:`,
    };
    this.redis.on('error', onError);
    // ioredis ends a client whose reconnection was aborted midway (it does not retry then): start it again.
    this.redis.on('end', () => {
      if (!this.closed) setTimeout(() => { if (!this.closed) this.redis.connect().catch(() => {}); }, MAX_RECONNECT_DELAY_MS).unref();
    });
    // A cluster reports a node it cannot reach as 'node error'; 'error' only when the whole cluster is unreachable.
    if (this.clustered) this.redis.on('node error', onError);
    this.redis.on('ready', () => {
      if (this.readyBefore) seen('commands_reconnected');
      this.readyBefore = true;
      this.notePrimary(seen);
    });
    // A cluster learns of a promoted replica by refreshing its slot map, not by reconnecting.
    if (this.clustered) this.redis.on('refresh', () => this.notePrimary(seen));
    this.firstSubscription = new Promise((resolve) => { this.markSubscribed = resolve; });
    this.subscriber = new EventSubscriber(connections.openSubscriber, this.key.channel, {
      error: onError,
      message: (message) => {
        const event = parseEvent(message);
        if (event) this.emit(event);
      },
      subscribed: () => {
        if (this.subscribedOnce) seen('events_reconnected');
        if (this.subscribedOnce || this.handedOut) this.emit({ kind: 'reset' });
        this.subscribedOnce = true;
        this.markSubscribed();
      },
    });
    this.run = scriptRunner(this.redis, (command) => this.call(command));
    this.usage = new RedisUsage((tokenId, day) => keys.token(tokenId, `usage:${day}`), this.clustered, this.run, (key) => this.call(this.redis.hgetall(key)));
    this.audit = new RedisAudit(this.key.audit, this.run, (key, max, limit) => this.call(this.redis.zrevrangebylex(key, max, '-', 'LIMIT', 0, limit)));
  }

  async findTokenByHash(hash: string): Promise<TokenRecord | null> {
    const json = await this.call(this.redis.get(this.tokenKey(hash)));
    if (json === null) return null;
    return json.charCodeAt(0) === ALIAS ? this.findByPrevious(hash, json.slice(1)) : fromJson(json);
  }

  /** A previous secret during its overlap: the token, expiring no later than the overlap. */
  private async findByPrevious(hash: string, current: string): Promise<TokenRecord | null> {
    const json = await this.call(this.redis.get(this.tokenKey(current)));
    if (json === null || json.charCodeAt(0) === ALIAS) return null;
    const { previous, ...record } = JSON.parse(json) as StoredRecord;
    if (previous?.hash !== hash || previous.until <= new Date().toISOString()) return null;
    return { ...record, expiresAt: record.expiresAt !== null && record.expiresAt < previous.until ? record.expiresAt : previous.until };
  }

  async getToken(id: string): Promise<TokenRecord | null> {
    const hash = await this.call(this.redis.hget(this.key.ids, id));
    return hash === null ? null : this.findTokenByHash(hash);
  }

  async listTokens(): Promise<TokenRecord[]> {
    const hashes = await this.call(this.redis.hvals(this.key.ids));
    const records: TokenRecord[] = [];
    for (let i = 0; i < hashes.length; i += MGET_CHUNK) {
      const keys = hashes.slice(i, i + MGET_CHUNK).map((h) => this.tokenKey(h));
      for (const json of await this.call(this.redis.mget(keys))) if (json !== null) records.push(fromJson(json));
    }
    return records.sort(byCreation);
  }

  async createToken(record: TokenRecord): Promise<void> {
    const created = await this.eval(CREATE_TOKEN, [this.key.ids, this.tokenKey(record.hash)],
      [record.id, record.hash, JSON.stringify(record), this.key.channel, tokenEvent(record)]);
    if (created !== 1) throw new Error('a token with this id or hash already exists');
  }

  async updateToken(id: string, patch: TokenPatch): Promise<TokenRecord | null> {
    for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
      const current = await this.readRaw(id);
      if (current === null) return null;
      const next = applyTokenPatch(JSON.parse(current.json) as StoredRecord, patch);
      const outcome = await this.replace(current, next, true);
      if (outcome === 'gone') return null;
      if (outcome === 'written') return fromJson(JSON.stringify(next));
    }
    throw new Error(`token ${id} kept changing; update not applied`);
  }

  async deleteToken(id: string): Promise<boolean> {
    const current = await this.readRaw(id);
    if (current === null) return false;
    const previous = (JSON.parse(current.json) as StoredRecord).previous?.hash;
    const keys = [this.key.ids, this.tokenKey(current.hash)];
    if (previous !== undefined) keys.push(this.tokenKey(previous));
    const deleted = await this.eval(DELETE_TOKEN, keys, [id, current.hash, this.key.channel, ...tokenEvents(id, current.hash, previous)]);
    return deleted === 1;
  }

  async rotateToken(id: string, hash: string, previousUntil: string | null): Promise<TokenRecord | null> {
    for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
      const current = await this.readRaw(id);
      if (current === null) return null;
      const { previous, ...record } = JSON.parse(current.json) as StoredRecord;
      const next: StoredRecord = previousUntil === null ? { ...record, hash } : { ...record, hash, previous: { hash: current.hash, until: previousUntil } };
      const keys = [this.key.ids, this.tokenKey(current.hash), this.tokenKey(hash)];
      if (previous !== undefined) keys.push(this.tokenKey(previous.hash));
      const overlapMs = previousUntil === null ? 0 : Math.max(1, Date.parse(previousUntil) - Date.now());
      const outcome = await this.eval(ROTATE_TOKEN, keys, [
        id, current.hash, current.json, hash, JSON.stringify(next), String(overlapMs), this.key.channel,
        ...tokenEvents(id, current.hash, previous?.hash), tokenEvent({ id, hash }),
      ]);
      if (outcome === -1) return null;
      if (outcome === 1) return { ...record, hash };
    }
    throw new Error(`token ${id} kept changing; rotation not applied`);
  }

  async addUsage(counts: readonly UsageCount[]): Promise<void> {
    await this.usage.add(counts);
  }

  async readUsage(tokenId: string, sinceMinute: number): Promise<UsageCount[]> {
    return this.usage.read(tokenId, sinceMinute);
  }

  async appendAudit(event: AuditEvent, retentionMs: number): Promise<void> {
    await this.audit.append(event, retentionMs);
  }

  async listAudit(limit: number, before: string | null): Promise<AuditEvent[]> {
    return this.audit.list(limit, before);
  }

  /** Not announced to watchers: last use decides nothing, and announcing it would empty every cache each flush. */
  async touchTokens(lastUsed: ReadonlyMap<string, string>): Promise<void> {
    let pending = [...lastUsed];
    for (let attempt = 0; attempt < CAS_ATTEMPTS && pending.length > 0; attempt++) {
      const conflicts = await Promise.all(pending.map(async ([id, at]) => {
        const current = await this.readRaw(id);
        if (current === null) return false;
        const record = JSON.parse(current.json) as StoredRecord;
        // Several processes flush last use; keeping the latest makes their order irrelevant.
        if (record.lastUsedAt !== null && record.lastUsedAt >= at) return false;
        return (await this.replace(current, { ...record, lastUsedAt: at }, false)) === 'changed';
      }));
      pending = pending.filter((_, i) => conflicts[i]);
    }
  }

  async listDeployments(): Promise<DeploymentSpec[]> {
    const specs = (await this.call(this.redis.hvals(this.key.deployments))).map((json) => JSON.parse(json) as DeploymentSpec);
    return specs.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  async putDeployment(spec: DeploymentSpec): Promise<'created' | 'replaced'> {
    const created = await this.eval(PUT_DEPLOYMENT, [this.key.deployments],
      [spec.name, JSON.stringify(spec), this.key.channel, deploymentEvent(spec.name)]);
    return created === 1 ? 'created' : 'replaced';
  }

  async deleteDeployment(name: string): Promise<boolean> {
    return (await this.eval(DELETE_DEPLOYMENT, [this.key.deployments], [name, this.key.channel, deploymentEvent(name)])) === 1;
  }

  async claimPepperFingerprint(fingerprint: string): Promise<string> {
    return String(await this.call(this.redis.eval(CLAIM, 1, this.key.pepperFingerprint, fingerprint)));
  }

  /** Every key of one token's counters carries `{<token id>}`: one hash slot, so one script may touch them all. */
  limitStore(holder: string, leaseMs: number): LimitStore {
    return new RedisLimitStore({
      key: (tokenId, scope) => `${this.key.limits}{${tokenId}}:${scope}`,
      run: this.run,
      holder,
      leaseMs,
    });
  }

  /** On a cluster, the node holding the token table answers: the one every uncached lookup needs. */
  async ping(): Promise<void> {
    await this.call<unknown>(this.clustered ? this.redis.exists(this.key.ids) : this.redis.ping());
  }

  /** Events from every process (this one included) arrive through the subscriber connection. */
  watch(listener: (event: StoreEvent) => void): void {
    this.listeners.push(listener);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.listeners.length = 0;
    this.subscriber.close();
    // disconnect, not quit: quit would be refused (offline queue off) while reconnecting, and reconnection would go on.
    this.redis.disconnect();
  }

  private tokenKey(hash: string): string {
    return this.key.tokenByHash + hash;
  }

  private async call<T>(command: Promise<T>): Promise<T> {
    const redis = this.redis;
    const stream = 'stream' in redis ? redis.stream : undefined;
    try {
      return await command;
    } catch (err) {
      // ioredis keeps a connection whose replies stopped (dead without a FIN or RST) until TCP
      // keepalive gives up, minutes later: every call would time out meanwhile. Start a new one.
      // (A cluster's node connections are its own to replace; reconnecting it would drop every node.)
      if (err instanceof Error && err.message === 'Command timed out' && 'stream' in redis && redis.stream === stream && redis.status === 'ready') {
        redis.disconnect(true);
      }
      throw wrap(err);
    }
  }

  private async eval(script: string, keys: readonly string[], args: readonly string[]): Promise<number> {
    return Number(await this.call(this.redis.eval(script, keys.length, ...keys, ...args)));
  }

  private async readRaw(id: string): Promise<{ id: string; hash: string; json: string } | null> {
    const hash = await this.call(this.redis.hget(this.key.ids, id));
    if (hash === null) return null;
    const json = await this.call(this.redis.get(this.tokenKey(hash)));
    return json === null ? null : { id, hash, json };
  }

  private async replace(current: { id: string; hash: string; json: string }, next: StoredRecord, announce: boolean):
  Promise<'gone' | 'changed' | 'written'> {
    const events = announce ? tokenEvents(current.id, current.hash, next.previous?.hash) : [];
    const outcome = await this.eval(REPLACE_TOKEN, [this.key.ids, this.tokenKey(current.hash)],
      [current.id, current.hash, current.json, JSON.stringify(next), this.key.channel, ...events]);
    return outcome === 1 ? 'written' : outcome === 0 ? 'changed' : 'gone';
  }

  private notePrimary(seen: (event: ConnectionEvent) => void): void {
    const redis = this.redis;
    const now = 'stream' in redis
      ? `${redis.stream?.remoteAddress}:${redis.stream?.remotePort}`
      : redis.nodes('master').map((node) => `${node.options.host}:${node.options.port}`).sort().join(',');
    if (this.primary !== undefined && now !== this.primary) seen('failover');
    this.primary = now;
  }

  /** Resolves when both connections are up (subscribed), or after `ms`, whichever is first. */
  private async settle(ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const ready = new Promise<void>((resolve) => {
      if (this.redis.status === 'ready') resolve();
      else this.redis.once('ready', () => resolve());
    });
    await Promise.race([
      Promise.all([ready, this.firstSubscription]),
      new Promise<void>((resolve) => { timer = setTimeout(resolve, ms); }),
    ]);
    clearTimeout(timer);
  }

  private emit(event: StoreEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (err) {
        // A listener bug must not break the subscriber connection's handler; surface it outside.
        queueMicrotask(() => { throw err; });
      }
    }
  }
}

function tokenEvent(t: { id: string; hash: string }): string {
  return JSON.stringify({ kind: 'token', id: t.id, hash: t.hash });
}

/** A token change, announced for its previous secret's hash too: caches may hold either. */
function tokenEvents(id: string, hash: string, previous: string | undefined): string[] {
  return previous === undefined ? [tokenEvent({ id, hash })] : [tokenEvent({ id, hash }), tokenEvent({ id, hash: previous })];
}

function deploymentEvent(name: string): string {
  return JSON.stringify({ kind: 'deployment', name });
}
