import type { DeploymentSpec } from '../config/schema';
import type { Limits } from '../limits/limits';
import type { LimitStore } from '../limits/limit-store';

/** A token as stored. `hash` is the keyed hash of the secret; the secret itself is never stored. */
export interface TokenRecord {
  readonly id: string;
  readonly hash: string;
  readonly name: string;
  readonly description: string;
  readonly owner: string;
  /** RFC 3339 UTC. */
  readonly createdAt: string;
  readonly expiresAt: string | null;
  readonly lastUsedAt: string | null;
  readonly disabled: boolean;
  /** User type: the protected Deployments it opens (`"*"`: all); null when not a user token. */
  readonly user: { readonly deployments: readonly string[] } | null;
  readonly developer: boolean;
  /** Its own rate and concurrency limits; absent or null when it has none (the Deployment's apply). */
  readonly limits?: Limits | null;
}

/** A token's requests in one minute on one listener with one status class, as counted and stored. */
export interface UsageCount {
  readonly tokenId: string;
  /** Minutes since the Unix epoch. */
  readonly minute: number;
  readonly listener: string;
  /** `2xx`, `4xx`, … */
  readonly statusClass: string;
  readonly requests: number;
  readonly bytesIn: number;
  readonly bytesOut: number;
}

export type AuditAction =
  | 'token.create' | 'token.update' | 'token.delete' | 'token.rotate'
  | 'deployment.put' | 'deployment.patch' | 'deployment.delete';

/** One change made through the API or the CLI, as stored and answered (snake_case); never a secret. */
export interface AuditEvent {
  /** Sorts by time: see `auditId`. */
  readonly id: string;
  readonly time: string;
  readonly action: AuditAction;
  /** The token id or the Deployment name. */
  readonly target: string;
  readonly actor: { readonly token_id: string | null; readonly user: string };
  readonly request_id: string | null;
  readonly client_address: string | null;
}

export type TokenPatch = Partial<Pick<TokenRecord, 'name' | 'description' | 'disabled' | 'expiresAt' | 'user' | 'developer' | 'limits'>>;

/**
 * What changed in a shared store, as seen by every process using it.
 * `reset` means changes may have been missed (a subscriber reconnected):
 * drop every cached token and reload Deployments.
 */
export type StoreEvent =
  | { readonly kind: 'token'; readonly id: string; readonly hash: string }
  | { readonly kind: 'deployment'; readonly name: string }
  | { readonly kind: 'reset' };

/**
 * The token store. Both drivers (embedded SQLite, Redis) implement it and run
 * the same contract tests. Every mutation is announced to every process
 * sharing the store (including this one) through `watch` within one second.
 */
export interface Store {
  readonly driver: 'embedded' | 'redis';
  /** One round trip: the hot path's only store call, made on a cache miss. */
  findTokenByHash(hash: string): Promise<TokenRecord | null>;
  getToken(id: string): Promise<TokenRecord | null>;
  listTokens(): Promise<TokenRecord[]>;
  createToken(record: TokenRecord): Promise<void>;
  /** Returns the updated record, or null when there is no such token. */
  updateToken(id: string, patch: TokenPatch): Promise<TokenRecord | null>;
  deleteToken(id: string): Promise<boolean>;
  /** Records approximate last use for many tokens at once (id -> RFC 3339 time). */
  touchTokens(lastUsed: ReadonlyMap<string, string>): Promise<void>;
  /**
   * Gives the token the secret hashed as `hash`. With `previousUntil`, the
   * current hash still finds the token until then (`findTokenByHash` answers
   * it with `expiresAt` no later than that time); a secret replaced earlier
   * stops working at once: one previous secret at most. Announces the old,
   * new and earlier hashes. Null when there is no such token.
   */
  rotateToken(id: string, hash: string, previousUntil: string | null): Promise<TokenRecord | null>;

  /** Adds counted usage (summed into what is stored); kept {@link USAGE_RETENTION_MS}. */
  addUsage(counts: readonly UsageCount[]): Promise<void>;
  /** A token's usage from `sinceMinute` on, summed per listener and status class (`minute` is `sinceMinute`). */
  readUsage(tokenId: string, sinceMinute: number): Promise<UsageCount[]>;

  /** Stores an audit event and drops the ones older than `retentionMs`. */
  appendAudit(event: AuditEvent, retentionMs: number): Promise<void>;
  /** Newest first: at most `limit` events with ids below `before` (all when null). */
  listAudit(limit: number, before: string | null): Promise<AuditEvent[]>;

  /** Deployments created through the API (config-managed ones are not stored). */
  listDeployments(): Promise<DeploymentSpec[]>;
  /** Creates or replaces; answers which. */
  putDeployment(spec: DeploymentSpec): Promise<'created' | 'replaced'>;
  deleteDeployment(name: string): Promise<boolean>;

  /**
   * The pepper fingerprint kept in the store: stores `fingerprint` when the
   * store has none yet (atomically, so two first processes agree), and
   * answers the one kept, which the caller compares with its own.
   */
  claimPepperFingerprint(fingerprint: string): Promise<string>;
  /**
   * The rate and concurrency counters kept beside the tokens, shared as the
   * tokens are. `holder` names this process's slots; they lapse `leaseMs`
   * after it last renewed them.
   */
  limitStore(holder: string, leaseMs: number): LimitStore;

  /** Resolves when the store answers; rejects otherwise. */
  ping(): Promise<void>;
  /** Starts delivering StoreEvents from every process sharing the store. */
  watch(listener: (event: StoreEvent) => void): void;
  close(): Promise<void>;
}

/** How long usage counts are kept. */
export const USAGE_RETENTION_MS = 31 * 86_400_000;

/** Thrown (as `cause` of a store_unavailable GatehouseError) when the store cannot be reached. */
export class StoreUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreUnavailableError';
  }
}

/**
 * The record after a patch, shared by both drivers so they agree exactly. A
 * field given as `undefined` is left alone (a plain spread would erase it);
 * `null` is a value (`expiresAt: null` removes the expiry, `user: null` the user type).
 */
export function applyTokenPatch(record: TokenRecord, patch: TokenPatch): TokenRecord {
  const pick = <K extends keyof TokenPatch>(key: K): TokenRecord[K] =>
    patch[key] === undefined ? record[key] : (patch[key] as TokenRecord[K]);
  const next: { -readonly [K in keyof TokenRecord]: TokenRecord[K] } = {
    ...record,
    name: pick('name'),
    description: pick('description'),
    disabled: pick('disabled'),
    expiresAt: pick('expiresAt'),
    user: pick('user'),
    developer: pick('developer'),
  };
  // A token without limits has no `limits` key at all, as one made before limits existed.
  const limits = pick('limits');
  if (limits === null || limits === undefined) delete next.limits;
  else next.limits = limits;
  return next;
}
