/**
 * Where limit counters live, shared by every process that shares the token
 * store: Redis for a fleet, the SQLite file for one host. Each call touches
 * the counters of one token only (Redis Cluster: one hash slot).
 */

/** One limited request, as the store is asked about it. */
export interface LimitCall {
  readonly tokenId: string;
  /** Counter scope of the rate limit ('' the token's own, else the Deployment's name); null when there is none. */
  readonly rateScope: string | null;
  readonly requestsPerMinute: number;
  /**
   * Requests' worth of the rate to take at once (at least 1): the store takes
   * as many as the allowance has, up to this, or refuses when it has none.
   */
  readonly rateTake: number;
  /** Counter scope of the concurrency limit; null when there is none. */
  readonly slotScope: string | null;
  readonly concurrent: number;
  /**
   * Slots this process holds in `slotScope` besides the one asked for: an
   * absolute count, so a lost or repeated call corrects itself on the next.
   */
  readonly held: number;
  /** Slots to take besides `held` (at least 1): as many as are free, up to this, or a refusal when none is. */
  readonly slotTake: number;
}

export interface LimitAnswer {
  readonly allowed: boolean;
  /** Which limit refused it (rate first), when refused. */
  readonly refusedBy: 'rate' | 'concurrency' | null;
  /** Requests' worth of the rate taken (0 when refused or not asked). */
  readonly rateTaken: number;
  /** Slots taken besides `held`: the store now counts `held + slotsTaken` for this holder (0 when refused or not asked). */
  readonly slotsTaken: number;
  /** Requests the rate limit lets through right now, after the ones taken. */
  readonly rateRemaining: number;
  /** ms until the rate allowance is whole again. */
  readonly rateResetMs: number;
  /** ms until the rate limit admits another request (0 when it would now). */
  readonly rateWaitMs: number;
  /** Slots free for this token in the fleet, after the ones taken. */
  readonly slotsFree: number;
}

export interface LimitStore {
  /** One atomic check-and-take of both limits: one round trip. Both are taken, or neither. */
  acquire(call: LimitCall): Promise<LimitAnswer>;
  /** Sets how many slots this process holds in one scope, renewing their lease (0 lets them go). */
  sync(tokenId: string, slotScope: string, held: number): Promise<void>;
  close(): Promise<void>;
}

/**
 * The rate limit is a GCRA: N per minute admits one request every 60/N s on
 * average, with a burst of up to ⌈N/60⌉ (one second's worth). So any 60
 * seconds admit at most N + ⌈N/60⌉ requests.
 */
export function burstOf(requestsPerMinute: number): number {
  return Math.ceil(requestsPerMinute / 60);
}

/** How long a process's slots count without it renewing them: a dead replica frees its slots after this. */
export const DEFAULT_LEASE_MS = 15_000;
