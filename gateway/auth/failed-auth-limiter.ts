import { limiterKey } from './limiter-key';

const WINDOW_MS = 60_000;
/**
 * Addresses tracked per window. A flood from ever-new addresses must not grow
 * memory without bound: when the table is full, addresses still under their
 * budget make room (they are the cheap ones to forget), then the oldest, until
 * a tenth of the table is free. A new address is always counted.
 */
export const MAX_TRACKED_ADDRESSES = 100_000;

/**
 * Counts failed authentications per client address in fixed one-minute
 * windows, in this process only: no store traffic, so a flood of bad tokens
 * costs the store nothing. Addresses are counted by {@link limiterKey}: an
 * IPv6 client per /64, an IPv4-mapped one as IPv4.
 */
export class FailedAuthLimiter {
  private counts = new Map<string, number>();
  private windowStart = Date.now();

  constructor(private perMinute: number, private readonly maxTracked = MAX_TRACKED_ADDRESSES) {}

  /** Seconds to wait when the address is over its budget, else 0. */
  retryAfter(address: string): number {
    const now = this.roll();
    // Nobody has failed this window (the usual case): no key to work out.
    if (this.counts.size === 0) return 0;
    const count = this.counts.get(limiterKey(address));
    if (count === undefined || count < this.perMinute) return 0;
    return Math.max(1, Math.ceil((this.windowStart + WINDOW_MS - now) / 1000));
  }

  recordFailure(address: string): void {
    this.roll();
    const key = limiterKey(address);
    const count = this.counts.get(key);
    if (count === undefined && this.counts.size >= this.maxTracked) this.makeRoom();
    this.counts.set(key, (count ?? 0) + 1);
  }

  /** Linear in the table, but it leaves a tenth of it free: it runs at most once per maxTracked / 10 new addresses. */
  private makeRoom(): void {
    for (const [key, count] of this.counts) if (count < this.perMinute) this.counts.delete(key);
    let excess = this.counts.size - (this.maxTracked - Math.ceil(this.maxTracked / 10));
    for (const key of this.counts.keys()) {
      if (excess-- <= 0) return;
      this.counts.delete(key);
    }
  }

  /** Addresses counted in the current window. */
  get tracked(): number {
    return this.counts.size;
  }

  setLimit(perMinute: number): void {
    this.perMinute = perMinute;
  }

  private roll(): number {
    const now = Date.now();
    if (now - this.windowStart >= WINDOW_MS) {
      this.counts = new Map();
      this.windowStart = now;
    }
    return now;
  }
}
