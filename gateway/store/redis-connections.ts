import Redis, { Cluster, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { RedisAccess, RedisStoreConfig } from '../config/schema';

/** Reconnect backoff: 50, 100, 200, ... ms, capped so a restarted Redis is used again within about a second. */
export const MAX_RECONNECT_DELAY_MS = 1_000;

export const reconnectDelay = (times: number): number => Math.min(50 * 2 ** Math.min(Math.max(times, 1) - 1, 10), MAX_RECONNECT_DELAY_MS);
/**
 * With Sentinel a reconnect first asks a sentinel for the primary, which is
 * cheap: retry often, so a promoted replica is used within a quarter second.
 */
const SENTINEL_MAX_DELAY_MS = 250;
const sentinelReconnectDelay = (times: number): number => Math.min(reconnectDelay(times), SENTINEL_MAX_DELAY_MS);

export interface ConnectionSettings {
  readonly commandTimeoutMs: number;
}

/**
 * The ioredis clients for one store config. Topology is ioredis's job: a
 * Sentinel client asks the sentinels for the primary on every (re)connect and
 * follows `+switch-master`; a Cluster client follows MOVED/ASK and refreshes
 * its slot map. This module only chooses the options.
 */
export interface RedisConnections {
  readonly clustered: boolean;
  /** Commands: a single connection to the primary, or a Cluster routing each command to its slot's primary. */
  readonly commands: Redis | Cluster;
  /**
   * A new connection for the event subscription. On a cluster it goes to one
   * node ioredis knows (classic PUBLISH reaches every node) and does not
   * reconnect by itself: when it ends, open another one, maybe to another node.
   */
  openSubscriber(): Redis;
}

function shared(settings: ConnectionSettings): RedisOptions {
  return {
    protocol: 2,
    // Fail instead of waiting: no queue while disconnected, and commands in
    // flight when the connection drops are rejected at once, not retried.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    // A write that may or may not have run must not run again on its own.
    autoResendUnfulfilledCommands: false,
    // The store subscribes on every 'ready' itself, to know when the subscription is back.
    autoResubscribe: false,
    commandTimeout: settings.commandTimeoutMs,
    connectTimeout: 2_000,
  };
}

function access(config: RedisAccess): RedisOptions {
  return {
    ...(config.username === undefined ? {} : { username: config.username }),
    ...(config.password === undefined ? {} : { password: config.password }),
    ...(config.tls ? { tls: {} } : {}),
  };
}

export function openConnections(config: RedisStoreConfig, settings: ConnectionSettings): RedisConnections {
  const base = shared(settings);
  if ('url' in config) {
    const open = (connectionName: string): Redis => new Redis(config.url, { ...base, connectionName, retryStrategy: reconnectDelay });
    return { clustered: false, commands: open('gatehouse'), openSubscriber: () => open('gatehouse-events') };
  }
  if ('sentinels' in config) {
    const options: RedisOptions = {
      ...base, ...access(config),
      sentinels: config.sentinels.map(({ host, port }) => ({ host, port })),
      name: config.name,
      role: 'master',
      retryStrategy: sentinelReconnectDelay,
      // Asked again while no sentinel answers; ioredis's default gives up on a sentinel set after a few tries.
      sentinelRetryStrategy: reconnectDelay,
      // Not ioredis's failoverDetector: in ioredis 6.0.0 a detector left from a connection that dropped by
      // itself (the primary died) answers +switch-master by aborting the reconnection under way, and the
      // client ends for good. A reconnect asks the sentinels anyway, and an old primary still up is demoted
      // to a replica by them: its READONLY refusal sends us back to the sentinels.
      failoverDetector: false,
      reconnectOnError: (err: Error) => err.message.startsWith('READONLY'),
      ...(config.sentinelPassword === undefined ? {} : { sentinelPassword: config.sentinelPassword }),
      ...(config.tls ? { enableTLSForSentinelMode: true, sentinelTLS: {} } : {}),
    };
    const open = (connectionName: string): Redis => new Redis({ ...options, connectionName });
    return { clustered: false, commands: open('gatehouse'), openSubscriber: () => open('gatehouse-events') };
  }
  const nodeOptions = { ...base, ...access(config) };
  const { enableOfflineQueue: _queue, ...redisOptions } = nodeOptions;
  const options: ClusterOptions = {
    redisOptions: { ...redisOptions, connectionName: 'gatehouse' },
    enableOfflineQueue: false,
    // Never a replica: a read from one that lags could bring a revoked token back into a cache.
    scaleReads: 'master',
    clusterRetryStrategy: reconnectDelay,
    retryDelayOnMoved: 0,
    retryDelayOnTryAgain: 50,
    retryDelayOnFailover: 100,
    retryDelayOnClusterDown: 100,
    // TLS certificates name hosts, and ioredis would otherwise connect to the resolved addresses.
    ...(config.tls ? { dnsLookup: (address: string, callback: (err: null, address: string) => void) => callback(null, address) } : {}),
  };
  const commands = new Cluster(config.cluster.map(({ host, port }) => ({ host, port })), options);
  const seeds = config.cluster;
  return {
    clustered: true,
    commands,
    openSubscriber: () => {
      const known = commands.nodes('all').map((node) => ({ host: node.options.host, port: node.options.port }));
      const candidates = known.length > 0 ? known : seeds;
      const { host, port } = candidates[Math.floor(Math.random() * candidates.length)]!;
      return new Redis({ ...nodeOptions, host, port, connectionName: 'gatehouse-events', retryStrategy: () => null });
    },
  };
}
