/** The validated, frozen configuration. Durations are milliseconds. */

import type { Limits } from '../limits/limits';

export type AccessType = 'private' | 'protected' | 'public';
export type Protocol = 'http' | 'grpc';
export type ListenerKind = 'external' | 'internal' | 'admin';

export const ACCESS_TYPES: readonly AccessType[] = ['private', 'protected', 'public'];
export const PROTOCOLS: readonly Protocol[] = ['http', 'grpc'];
export const DEPLOYMENT_NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

export interface TlsConfig {
  readonly certFile: string;
  readonly keyFile: string;
}

export interface ListenerConfig {
  readonly address: string;
  readonly host: string;
  readonly port: number;
  readonly tls?: TlsConfig;
}

export interface Timeouts {
  readonly connect: number;
  readonly response: number;
  readonly idle: number;
}

export interface DeploymentSpec {
  readonly name: string;
  readonly access: AccessType;
  readonly protocol: Protocol;
  readonly upstreams: readonly string[];
  readonly hosts: readonly string[];
  readonly forwardAuthorization: boolean;
  /** Per-Deployment overrides of the global timeouts. */
  readonly timeouts: Partial<Timeouts>;
  /** The default limits of every token calling it (a token's own win); absent when none. */
  readonly limits?: Limits;
}

export interface RedisAddress {
  readonly host: string;
  readonly port: number;
}

/** Credentials and TLS for `sentinels` and `cluster` (a `url` carries its own: `rediss://user:pass@host`). */
export interface RedisAccess {
  readonly username?: string;
  readonly password?: string;
  /** TLS to every Redis node (and sentinel), verified against Node's CAs (NODE_EXTRA_CA_CERTS adds one). */
  readonly tls: boolean;
}

/** One Redis server, a Sentinel-managed primary, or a Redis Cluster. */
export type RedisStoreConfig =
  | { readonly driver: 'redis'; readonly prefix: string; readonly url: string }
  | RedisAccess & {
    readonly driver: 'redis'; readonly prefix: string;
    readonly sentinels: readonly RedisAddress[]; readonly name: string; readonly sentinelPassword?: string;
  }
  | RedisAccess & { readonly driver: 'redis'; readonly prefix: string; readonly cluster: readonly RedisAddress[] };

export type StoreConfig =
  | { readonly driver: 'embedded'; readonly path: string }
  | RedisStoreConfig;

export const MAX_WORKERS = 64;
export type Workers = number | 'auto';

export interface CacheConfig {
  readonly maxEntries: number;
  readonly ttl: number;
  readonly negativeTtl: number;
  readonly staleIfError: number;
}

export interface GatehouseConfig {
  /** The file it was read from; relative paths in it resolve against its folder. */
  readonly source: string;
  readonly organization: string;
  readonly domain: string;
  readonly listeners: Readonly<Record<ListenerKind, readonly ListenerConfig[]>>;
  readonly store: StoreConfig;
  readonly tokens: { readonly pepper: string };
  readonly cache: CacheConfig;
  readonly timeouts: Timeouts;
  readonly failedAuth: { readonly perMinute: number };
  readonly trustedProxies: readonly string[];
  /** Processes serving the listeners: a count, or `auto` (the CPUs this process may use), resolved at start. */
  readonly workers: Workers;
  readonly shutdown: { readonly grace: number };
  readonly log: { readonly level: string };
  /** How long audit events are kept in the store (ms). */
  readonly audit: { readonly retention: number };
  readonly deployments: readonly DeploymentSpec[];
}
