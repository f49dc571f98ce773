import { randomBytes } from 'node:crypto';
import { GatehouseError } from '../errors';
import type { Route } from '../routing/route-table';
import type { TokenRecord } from '../store/types';
import { DEFAULT_LEASE_MS, type LimitAnswer, type LimitStore } from './limit-store';
import { policyField, stateField, type RateLimitFields } from './ratelimit-fields';

/** Exhausted rate scopes remembered at most; past it the memory starts over (the store still decides). */
const MAX_EXHAUSTED = 10_000;

/**
 * How long a scope found with no free slot is refused here without asking the store, unless
 * this process frees one of its slots first: slots freed by other replicas are seen this late.
 */
const FULL_MEMORY_MS = 100;

/** How soon released slots not carried by a later check are written back. */
const FLUSH_MS = 200;

export interface LimiterOptions {
  readonly leaseMs?: number;
  /** A check the store could not answer: the request was let through. For the metric and a (rate-limited) log line. */
  readonly onFailOpen?: (err: unknown) => void;
}

/** This process's slots in one scope of one token. */
class Slots {
  /** Granted and not yet released. */
  held = 0;
  /** Checks sent and not yet answered: counted as held until they are, so two in flight do not both see one free slot. */
  pending = 0;
  /** What the store recorded for us with our last answered call (-1: unknown, a call failed). */
  stored = 0;
  /** When the store last heard from us about these slots (a check or a sync), ms. */
  syncedAt = 0;
  constructor(readonly key: string, readonly tokenId: string, readonly scope: string) {}

  get claimed(): number {
    return this.held + this.pending;
  }

  /** The store counts more (or fewer) slots for us than we hold, and no call in flight will fix it. */
  get stale(): boolean {
    return this.pending === 0 && this.stored !== this.held;
  }
}

/** What an allowed, limited request carries: the fields for its answer and its slot, released once when it ends. */
export class LimitGrant {
  private released = false;
  constructor(readonly fields: RateLimitFields, private readonly slots: Slots | null, private readonly limiter: Limiter) {}

  /** Idempotent: every way a request ends may call it. */
  release(): void {
    if (this.released) return;
    this.released = true;
    if (this.slots !== null) this.limiter.released(this.slots);
  }
}

/**
 * Per-token rate and concurrency limits, shared through the store: one
 * round trip for a limited request, none for an unlimited one. Slots freed by
 * ending requests ride along with the next check on the same token (the
 * store is told an absolute count), or are written back within FLUSH_MS;
 * held slots are leases renewed every third of the lease. A store that
 * fails lets requests through (fail open): the token was already checked.
 */
export class Limiter {
  /** Names this process's slots in the store. */
  readonly holder = `${process.pid}-${randomBytes(6).toString('hex')}`;
  private readonly store: LimitStore;
  private readonly leaseMs: number;
  private readonly slots = new Map<string, Slots>();
  /** Rate scopes known to be exhausted until a time: refused here, with no store traffic. */
  private readonly exhausted = new Map<string, number>();
  /** Slot scopes found full, until a time or until this process frees one of its slots there. */
  private readonly full = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  /** When the timer fires, ms. */
  private timerAt = 0;
  private closed = false;

  constructor(store: (holder: string, leaseMs: number) => LimitStore, private readonly options: LimiterOptions = {}) {
    this.leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
    this.store = store(this.holder, this.leaseMs);
  }

  /**
   * null when no limit applies (no store traffic); else the grant or the
   * refusal, once the store has answered.
   */
  check(token: TokenRecord, route: Route): LimitGrant | GatehouseError | Promise<LimitGrant | GatehouseError> | null {
    const own = token.limits;
    const fallback = route.spec.limits;
    if ((own === undefined || own === null) && fallback === undefined) return null;
    const ownRate = own?.requestsPerMinute;
    const ownSlots = own?.concurrent;
    const rpm = ownRate ?? fallback?.requestsPerMinute ?? 0;
    const concurrent = ownSlots ?? fallback?.concurrent ?? 0;
    if (rpm === 0 && concurrent === 0) return null;
    const rateScope = rpm === 0 ? null : ownRate !== undefined ? '' : route.name;
    const slotScope = concurrent === 0 ? null : ownSlots !== undefined ? '' : route.name;
    const policy = policyField(rpm, concurrent);

    const now = Date.now();
    if (rateScope !== null) {
      const until = this.exhausted.get(token.id + '\u0000' + rateScope);
      if (until !== undefined) {
        if (until > now) return this.refusal('rate', token.id, until - now, policy, stateField(rpm, 0, until - now, 0, 0));
        this.exhausted.delete(token.id + '\u0000' + rateScope);
      }
    }
    if (slotScope !== null) {
      const until = this.full.get(token.id + '\u0000' + slotScope);
      if (until !== undefined) {
        if (until > now) return this.refusal('concurrency', token.id, 1000, policy, stateField(0, 0, 0, concurrent, 0));
        this.full.delete(token.id + '\u0000' + slotScope);
      }
    }
    const slots = slotScope === null ? null : this.slotsFor(token.id, slotScope);
    const held = slots === null ? 0 : slots.claimed;
    if (slots !== null) {
      slots.pending++;
      slots.syncedAt = now;
    }
    return this.store.acquire({ tokenId: token.id, rateScope, requestsPerMinute: rpm, slotScope, concurrent, held }).then(
      (answer) => this.answered(answer, token.id, rateScope, rpm, concurrent, slots, held, policy),
      (err: unknown) => {
        if (slots !== null) {
          slots.pending--;
          slots.stored = -1;
          this.settle(slots);
        }
        this.options.onFailOpen?.(err);
        return new LimitGrant({ policy, state: '' }, null, this);
      },
    );
  }

  private answered(
    answer: LimitAnswer, tokenId: string, rateScope: string | null, rpm: number, concurrent: number,
    slots: Slots | null, sent: number, policy: string,
  ): LimitGrant | GatehouseError {
    if (slots !== null) {
      slots.pending--;
      slots.stored = answer.allowed ? sent + 1 : sent;
      if (answer.allowed) slots.held++;
      this.settle(slots);
    }
    const state = stateField(rpm, answer.rateRemaining, answer.allowed ? answer.rateResetMs : answer.rateWaitMs, concurrent, answer.slotsFree);
    if (answer.allowed) return new LimitGrant({ policy, state }, slots, this);
    if (answer.refusedBy === 'rate') {
      if (this.exhausted.size > MAX_EXHAUSTED) this.exhausted.clear();
      this.exhausted.set(tokenId + '\u0000' + rateScope, Date.now() + answer.rateWaitMs);
      return this.refusal('rate', tokenId, answer.rateWaitMs, policy, state);
    }
    if (slots !== null) {
      if (this.full.size > MAX_EXHAUSTED) this.full.clear();
      this.full.set(slots.key, Date.now() + FULL_MEMORY_MS);
    }
    return this.refusal('concurrency', tokenId, 1000, policy, state);
  }

  private refusal(kind: 'rate' | 'concurrency', tokenId: string, waitMs: number, policy: string, state: string): GatehouseError {
    return new GatehouseError(kind === 'rate' ? 'rate_limited' : 'concurrency_limited', {
      tokenId, retryAfter: Math.max(1, Math.ceil(waitMs / 1000)), rateLimit: { policy, state },
    });
  }

  private slotsFor(tokenId: string, scope: string): Slots {
    const key = tokenId + '\u0000' + scope;
    let slots = this.slots.get(key);
    if (slots === undefined) this.slots.set(key, (slots = new Slots(key, tokenId, scope)));
    return slots;
  }

  /** A request holding a slot ended. */
  released(slots: Slots): void {
    slots.held--;
    this.full.delete(slots.key);
    this.settle(slots);
  }

  /** After any change: write back what no call in flight will carry, keep held slots' leases renewed, forget idle scopes. */
  private settle(slots: Slots): void {
    if (slots.stale) this.schedule(FLUSH_MS);
    else if (slots.held > 0) this.schedule(this.leaseMs / 3);
    else if (slots.claimed === 0 && slots.stored === 0) this.slots.delete(slots.key);
  }

  /** Makes sure the timer fires within `ms`. */
  private schedule(ms: number): void {
    if (this.closed) return;
    const at = Date.now() + ms;
    if (this.timer !== undefined) {
      if (this.timerAt <= at) return;
      clearTimeout(this.timer);
    }
    this.timerAt = at;
    this.timer = setTimeout(() => void this.flush(), ms);
    this.timer.unref();
  }

  /** Writes back releases no check carried, and renews leases about to lapse. */
  private async flush(): Promise<void> {
    this.timer = undefined;
    const now = Date.now();
    const due: Slots[] = [];
    for (const slots of this.slots.values()) {
      if (slots.stale || (slots.claimed > 0 && now - slots.syncedAt >= this.leaseMs / 3)) due.push(slots);
    }
    await Promise.all(due.map(async (slots) => {
      const count = slots.claimed;
      slots.syncedAt = now;
      try {
        await this.store.sync(slots.tokenId, slots.scope, count);
        slots.stored = count;
      } catch {
        // Tried again on the next round; meanwhile the lease bounds what the store over-counts.
        slots.stored = -1;
      }
    }));
    if (this.closed) return;
    for (const slots of this.slots.values()) this.settle(slots);
  }

  /** Lets this process's slots go in the store (a clean stop) and stops the timer. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    await Promise.all([...this.slots.values()].map((s) => this.store.sync(s.tokenId, s.scope, 0).catch(() => {})));
    await this.store.close();
  }
}
