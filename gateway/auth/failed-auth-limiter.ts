const WINDOW_MS = 60_000;
/**
 * Addresses tracked per window. A flood from ever-new addresses (an IPv6
 * range) must not grow memory without bound; past this, new addresses go
 * uncounted until the window rolls, while those already counted stay limited.
 */
export const MAX_TRACKED_ADDRESSES = 100_000;

/**
 * Counts failed authentications per client address in fixed one-minute
 * windows, in this process only: no store traffic, so a flood of bad tokens
 * costs the store nothing.
 */
export class FailedAuthLimiter {
  private counts = new Map<string, number>();
  private windowStart = Date.now();

  constructor(private perMinute: number, private readonly maxTracked = MAX_TRACKED_ADDRESSES) {}

  /** Seconds to wait when the address is over its budget, else 0. */
  retryAfter(address: string): number {
    const now = this.roll();
    const count = this.counts.get(address);
    if (count === undefined || count < this.perMinute) return 0;
    return Math.max(1, Math.ceil((this.windowStart + WINDOW_MS - now) / 1000));
  }

  recordFailure(address: string): void {
    this.roll();
    const count = this.counts.get(address);
    if (count === undefined && this.counts.size >= this.maxTracked) return;
    this.counts.set(address, (count ?? 0) + 1);
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
