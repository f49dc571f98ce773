import { burstOf, type LimitAnswer } from './limit-store';

/**
 * How long requests taken from the store in a batch may be admitted here.
 * Every request admitted was taken from the fleet's allowance at most this
 * long before; what is left when it ends is not used (nor given back).
 */
export const RESERVE_LIFE_MS = 1_000;

/** A batch used up this soon after it was taken asks for twice as many next time. */
const GROW_WITHIN_MS = 100;

/**
 * The largest batch for a limit: a tenth of its burst, i.e. 100 ms' worth of
 * the rate (none below 600 per minute). A replica holds at most this much of
 * the fleet's allowance that the others cannot use.
 */
export function largestBatch(requestsPerMinute: number): number {
  return Math.max(1, Math.floor(burstOf(requestsPerMinute) / 10));
}

/**
 * This process's share of one token's rate allowance in one scope: requests
 * taken from the store in a batch and admitted here one by one, with no store
 * traffic. The batch starts at one request, doubles while batches go fast,
 * halves when one lapses unused, and never passes `largestBatch`.
 */
export class RateShare {
  /** Requests taken from the store and not yet admitted. */
  private tokens = 0;
  /** When `tokens` lapse, ms. */
  private until = 0;
  private takenAt = 0;
  private batch = 1;
  /** A batch is being taken: other requests meanwhile ask for one each, so one process never holds two batches. */
  private refilling = false;
  /** The fleet's allowance as of the last answer, for the `RateLimit` field: left after the batch, and when whole again (ms). */
  private fleetRemaining = 0;
  private wholeAt = 0;

  constructor(private requestsPerMinute: number) {}

  /** Admits one request from the batch at hand; false when there is none (ask the store). */
  take(requestsPerMinute: number, now: number): boolean {
    if (requestsPerMinute !== this.requestsPerMinute) {
      // The limit changed: what was taken under the old one is not used.
      this.requestsPerMinute = requestsPerMinute;
      this.tokens = 0;
      this.batch = 1;
    }
    if (this.tokens === 0 || now >= this.until) return false;
    this.tokens--;
    return true;
  }

  /** Gives back a request `take` admitted whose other limit then refused it. */
  untake(): void {
    this.tokens++;
  }

  /** How many requests to ask the store for now: a batch, or one while a batch is on its way. */
  ask(now: number): number {
    if (this.refilling) return 1;
    if (this.tokens > 0 && now >= this.until) this.batch = Math.max(1, this.batch >> 1);
    else if (this.takenAt > 0 && now - this.takenAt < GROW_WITHIN_MS) this.batch *= 2;
    this.batch = Math.min(this.batch, largestBatch(this.requestsPerMinute));
    this.refilling = this.batch > 1;
    return this.batch;
  }

  /** The store answered a call that asked for `asked`; one of those taken is the asking request's. */
  answered(asked: number, answer: LimitAnswer | null, now: number): void {
    if (asked > 1) this.refilling = false;
    if (answer === null) return;
    if (asked === this.batch && answer.rateTaken > 0) this.takenAt = now;
    if (answer.rateTaken > 1) {
      if (now >= this.until) this.tokens = 0;
      this.tokens += answer.rateTaken - 1;
      this.until = now + RESERVE_LIFE_MS;
    }
    this.fleetRemaining = answer.rateRemaining;
    this.wholeAt = now + (answer.refusedBy === 'rate' ? answer.rateWaitMs : answer.rateResetMs);
  }

  /** Requests left right now as far as this process knows: the fleet's at the last answer, plus its own batch. */
  remaining(now: number): number {
    return this.fleetRemaining + (now < this.until ? this.tokens : 0);
  }

  /** ms until the allowance is whole again, as of the last answer. */
  resetMs(now: number): number {
    return Math.max(0, this.wholeAt - now);
  }
}
