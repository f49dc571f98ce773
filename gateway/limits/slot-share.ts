import type { LimitAnswer } from './limit-store';

/** Spare slots unused this long are given back to the fleet. */
export const SPARE_IDLE_MS = 1_000;

/**
 * Spare slots a process may hold for a limit of `concurrent`: a tenth of it
 * (none below 10), and no more than it has in use, so an idle token holds
 * at most one.
 */
export function spareFor(concurrent: number, inUse: number): number {
  return Math.min(Math.floor(concurrent / 10), Math.max(1, inUse));
}

/**
 * This process's slots in one scope of one token. The store counts `stored`
 * slots for this process: the ones in use (`held`), the ones asked for by
 * checks in flight (`pending`), and spare ones taken ahead, which admit
 * requests here with no store traffic. A slot given back becomes spare; spares
 * past what the process needs, or unused for SPARE_IDLE_MS, are written back.
 */
export class SlotShare {
  /** Granted and not yet released. */
  held = 0;
  /** Checks sent and not yet answered: counted as held until they are, so two in flight do not both see one free slot. */
  pending = 0;
  /** What the store counts for us, as of our last call (-1: unknown, a call failed). */
  stored = 0;
  /**
   * Of `stored`, what the store granted: a refused check still records the
   * slots it counted as in flight, which may be more than the store would
   * grant, so only a grant (or a smaller sync) sets what spares come from.
   */
  private granted = 0;
  /** The latest limit seen: how many spares are worth keeping. */
  concurrent = 0;
  /** When the store last heard from us about these slots (a check or a sync), ms. */
  syncedAt = 0;
  /** When a slot was last taken here, ms. */
  usedAt = 0;
  /** Slots free for the other processes, as of the last answer: for the `RateLimit` field. */
  private fleetFree = 0;
  /** Calls are numbered as sent; an answer older than what `stored` was last set from is stale. */
  private sent = 0;
  private applied = 0;

  constructor(readonly tokenId: string, readonly scope: string) {}

  get claimed(): number {
    return this.held + this.pending;
  }

  /** Spare slots at hand. */
  get spare(): number {
    return Math.max(0, this.granted - this.claimed);
  }

  /** Admits one request from the spares at hand; false when there are none (ask the store). */
  take(concurrent: number, now: number): boolean {
    if (concurrent !== this.concurrent) {
      // The limit changed: spares taken under the old one are not used (and are written back).
      this.concurrent = concurrent;
      this.granted = Math.min(this.granted, this.claimed);
    }
    if (this.spare === 0 || this.claimed >= concurrent) return false;
    this.held++;
    this.usedAt = now;
    return true;
  }

  /** A check about to go to the store: its number, for `answered`. */
  send(now: number): number {
    this.pending++;
    this.syncedAt = now;
    this.usedAt = now;
    return ++this.sent;
  }

  /** The check numbered `call` was answered (null: it failed); `held` is what it told the store. */
  answered(call: number, held: number, answer: LimitAnswer | null): void {
    this.pending--;
    if (answer !== null && answer.allowed) this.held++;
    if (call <= this.applied) return;
    this.applied = call;
    if (answer === null) {
      this.stored = -1;
      this.granted = 0;
      return;
    }
    this.stored = held + answer.slotsTaken;
    if (answer.allowed) this.granted = this.stored;
    else this.granted = Math.min(this.granted, this.stored);
    this.fleetFree = answer.slotsFree;
  }

  /**
   * What the store should count for us now: the slots claimed, plus the
   * spares worth keeping (all of them while they are few and recently used).
   */
  target(now: number): number {
    const spare = this.spare;
    if (spare === 0 || now - this.usedAt >= SPARE_IDLE_MS) return this.claimed;
    const keep = spareFor(this.concurrent, this.claimed);
    return this.claimed + (spare <= 2 * keep ? spare : keep);
  }

  /** A sync numbered as a call, telling the store `count`: from now on the store counts that. */
  syncing(count: number, now: number): number {
    this.stored = count;
    this.granted = Math.min(this.granted, count);
    this.syncedAt = now;
    this.applied = ++this.sent;
    return this.applied;
  }

  /** A sync failed: what the store counts is unknown until the next call. */
  syncFailed(call: number): void {
    if (call !== this.applied) return;
    this.stored = -1;
    this.granted = 0;
  }

  /** Slots free right now as far as this process knows: the others', plus its own spares. */
  free(): number {
    return this.fleetFree + this.spare;
  }
}
