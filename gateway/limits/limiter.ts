import { randomBytes } from 'node:crypto';
import { GatehouseError } from '../errors';
import type { Route } from '../routing/route-table';
import type { TokenRecord } from '../store/types';
import { DEFAULT_LEASE_MS, type LimitAnswer, type LimitStore } from './limit-store';
import { RateShare } from './rate-share';
import { ScopeMap } from './scope-map';
import { policyField, stateField, type RateLimitFields } from './ratelimit-fields';
import { SPARE_IDLE_MS, SlotShare, spareFor } from './slot-share';

/** Scopes remembered at most in each map; past it the memory starts over (the store still decides). */
const MAX_REMEMBERED = 10_000;

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

/** What an allowed, limited request carries: the fields for its answer and its slot, released once when it ends. */
export class LimitGrant {
  private released = false;
  constructor(readonly fields: RateLimitFields, private readonly slots: SlotShare | null, private readonly limiter: Limiter) {}

  /** Idempotent: every way a request ends may call it. */
  release(): void {
    if (this.released) return;
    this.released = true;
    if (this.slots !== null) this.limiter.released(this.slots);
  }
}

/**
 * Per-token rate and concurrency limits, shared through the store. A limited
 * request is admitted from this process's share when it has one (no store
 * traffic), else with one round trip that also takes a share for the next
 * ones: a batch of the rate (rate-share.ts), spare slots (slot-share.ts); an
 * unlimited request costs nothing. Slots freed by ending requests ride along
 * with the next check on the same token (the store is told an absolute
 * count), or are written back within FLUSH_MS (spares: once idle); held slots
 * are leases renewed every third of the lease. A store that fails lets
 * requests through (fail open): the token was already checked.
 */
export class Limiter {
  /** Names this process's slots in the store. */
  readonly holder = `${process.pid}-${randomBytes(6).toString('hex')}`;
  private readonly store: LimitStore;
  private readonly leaseMs: number;
  private readonly slots = new ScopeMap<SlotShare>();
  private readonly rates = new ScopeMap<RateShare>();
  /** Rate scopes known to be exhausted until a time: refused here, with no store traffic. */
  private readonly exhausted = new ScopeMap<number>();
  /** Slot scopes found full, until a time or until this process frees one of its slots there. */
  private readonly full = new ScopeMap<number>();
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
   * refusal: at once from this process's share, or once the store has answered.
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
      const until = this.exhausted.get(token.id, rateScope);
      if (until !== undefined) {
        if (until > now) return this.refusal('rate', token.id, until - now, policy, stateField(rpm, 0, until - now, 0, 0));
        this.exhausted.delete(token.id, rateScope);
      }
    }
    if (slotScope !== null) {
      const until = this.full.get(token.id, slotScope);
      if (until !== undefined) {
        if (until > now) return this.refusal('concurrency', token.id, 1000, policy, stateField(0, 0, 0, concurrent, 0));
        this.full.delete(token.id, slotScope);
      }
    }
    const rate = rateScope === null ? null : this.rateFor(token.id, rateScope, rpm);
    const slots = slotScope === null ? null : this.slotsFor(token.id, slotScope);
    const rateHere = rate !== null && rate.take(rpm, now);
    const slotHere = slots !== null && slots.take(concurrent, now);
    if ((rate === null || rateHere) && (slots === null || slotHere)) {
      return new LimitGrant({ policy, state: this.state(rpm, rate, concurrent, slots, now) }, slots, this);
    }

    // One store call for what this process's share did not cover, taking a share for the next requests.
    const askRate = rate !== null && !rateHere ? rate : null;
    const askSlots = slots !== null && !slotHere ? slots : null;
    const rateTake = askRate === null ? 0 : askRate.ask(now);
    const held = askSlots === null ? 0 : askSlots.claimed;
    const slotTake = askSlots === null ? 0 : 1 + spareFor(concurrent, held);
    const call = askSlots === null ? 0 : askSlots.send(now);
    return this.store.acquire({
      tokenId: token.id, rateScope: askRate === null ? null : rateScope, requestsPerMinute: rpm, rateTake,
      slotScope: askSlots === null ? null : slotScope, concurrent, held, slotTake,
    }).then(
      (answer) => {
        const at = Date.now();
        askRate?.answered(rateTake, answer, at);
        if (askSlots !== null) {
          askSlots.answered(call, held, answer);
          this.settle(askSlots);
        }
        if (answer.allowed) return new LimitGrant({ policy, state: this.state(rpm, rate, concurrent, slots, at) }, slots, this);
        // Refused by the store: what this process's share admitted goes back to it.
        if (rateHere) rate.untake();
        if (slotHere) this.giveBack(slots);
        return this.refused(answer, token.id, rateScope, slotScope, rpm, concurrent, policy);
      },
      (err: unknown) => {
        askRate?.answered(rateTake, null, Date.now());
        if (askSlots !== null) {
          askSlots.answered(call, held, null);
          this.settle(askSlots);
        }
        this.options.onFailOpen?.(err);
        // A slot admitted from the share is real and released as usual; the rest was not counted.
        return new LimitGrant({ policy, state: '' }, slotHere ? slots : null, this);
      },
    );
  }

  /** The `RateLimit` field as this process knows it: the last answers, and its own shares. */
  private state(rpm: number, rate: RateShare | null, concurrent: number, slots: SlotShare | null, now: number): string {
    return stateField(rpm, rate === null ? 0 : rate.remaining(now), rate === null ? 0 : rate.resetMs(now), concurrent, slots === null ? 0 : slots.free());
  }

  private refused(
    answer: LimitAnswer, tokenId: string, rateScope: string | null, slotScope: string | null, rpm: number, concurrent: number, policy: string,
  ): GatehouseError {
    const state = stateField(rpm, answer.rateRemaining, answer.rateWaitMs, concurrent, answer.slotsFree);
    if (answer.refusedBy === 'rate') {
      if (this.exhausted.size > MAX_REMEMBERED) this.exhausted.clear();
      this.exhausted.set(tokenId, rateScope ?? '', Date.now() + answer.rateWaitMs);
      return this.refusal('rate', tokenId, answer.rateWaitMs, policy, state);
    }
    if (this.full.size > MAX_REMEMBERED) this.full.clear();
    this.full.set(tokenId, slotScope ?? '', Date.now() + FULL_MEMORY_MS);
    return this.refusal('concurrency', tokenId, 1000, policy, state);
  }

  private refusal(kind: 'rate' | 'concurrency', tokenId: string, waitMs: number, policy: string, state: string): GatehouseError {
    return new GatehouseError(kind === 'rate' ? 'rate_limited' : 'concurrency_limited', {
      tokenId, retryAfter: Math.max(1, Math.ceil(waitMs / 1000)), rateLimit: { policy, state },
    });
  }

  private rateFor(tokenId: string, scope: string, rpm: number): RateShare {
    let rate = this.rates.get(tokenId, scope);
    if (rate === undefined) {
      // Forgetting shares loses at most what they hold (a stricter limit for a moment), never a count.
      if (this.rates.size > MAX_REMEMBERED) this.rates.clear();
      this.rates.set(tokenId, scope, (rate = new RateShare(rpm)));
    }
    return rate;
  }

  private slotsFor(tokenId: string, scope: string): SlotShare {
    let slots = this.slots.get(tokenId, scope);
    if (slots === undefined) this.slots.set(tokenId, scope, (slots = new SlotShare(tokenId, scope)));
    return slots;
  }

  /** A request holding a slot ended: the slot becomes a spare here, written back as `settle` says. */
  released(slots: SlotShare): void {
    slots.held--;
    this.full.delete(slots.tokenId, slots.scope);
    this.settle(slots);
  }

  /** A slot admitted from the spares, for a request the store then refused: a spare again. */
  private giveBack(slots: SlotShare): void {
    slots.held--;
    this.settle(slots);
  }

  /**
   * After any change: write back what no call in flight will carry (soon, or
   * once spares go idle), keep leases renewed, forget idle scopes.
   */
  private settle(slots: SlotShare): void {
    const now = Date.now();
    if (slots.pending === 0 && slots.stored !== slots.target(now)) this.schedule(FLUSH_MS, now);
    // Not sooner than FLUSH_MS: while a check is in flight the spares cannot be written back yet.
    else if (slots.spare > 0) this.schedule(Math.max(FLUSH_MS, Math.min(slots.usedAt + SPARE_IDLE_MS - now, this.leaseMs / 3)), now);
    else if (slots.held > 0) this.schedule(this.leaseMs / 3, now);
    else if (slots.claimed === 0 && slots.stored === 0) this.slots.delete(slots.tokenId, slots.scope);
  }

  /** Makes sure the timer fires within `ms`. */
  private schedule(ms: number, now: number): void {
    if (this.closed) return;
    const at = now + ms;
    if (this.timer !== undefined) {
      if (this.timerAt <= at) return;
      clearTimeout(this.timer);
    }
    this.timerAt = at;
    this.timer = setTimeout(() => void this.flush(), ms);
    this.timer.unref();
  }

  /** Writes back releases no check carried and spares gone idle, and renews leases about to lapse. */
  private async flush(): Promise<void> {
    this.timer = undefined;
    const now = Date.now();
    const due: SlotShare[] = [];
    for (const slots of this.slots.values()) {
      const stale = slots.pending === 0 && slots.stored !== slots.target(now);
      if (stale || ((slots.claimed > 0 || slots.stored !== 0) && now - slots.syncedAt >= this.leaseMs / 3)) due.push(slots);
    }
    await Promise.all(due.map(async (slots) => {
      const count = slots.target(now);
      const call = slots.syncing(count, now);
      try {
        await this.store.sync(slots.tokenId, slots.scope, count);
      } catch {
        // Tried again on the next round; meanwhile the lease bounds what the store over-counts.
        slots.syncFailed(call);
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
