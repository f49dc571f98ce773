import type { Store, UsageCount } from '../store/types';
import { FlushLoop } from './flush-loop';

/** Counts reach the store this often: the usage API is at most this (plus a store write) behind. */
export const USAGE_FLUSH_MS = 2_000;
/** Counts kept while the store fails, beyond which the oldest are dropped (memory stays bounded). */
const MAX_QUEUED = 100_000;

const LISTENERS = ['external', 'internal', 'admin'] as const;
const CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const;
/** Per listener and class: requests, bytes in, bytes out. */
const CELLS = LISTENERS.length * CLASSES.length * 3;

/** One token's counts for the current minute, in a flat array so counting allocates nothing. */
interface Tally {
  readonly tokenId: string;
  readonly minute: number;
  readonly cells: Float64Array;
}

/**
 * Counts what each token used, in memory, and adds it to the store in one
 * batch every {@link USAGE_FLUSH_MS}: never a store write per request. Every
 * process counts its own requests, so the store's sums cover every replica.
 */
export class UsageRecorder {
  private pending = new Map<string, Tally>();
  /** Counts of minutes already over, or of a failed write, waiting for the next flush. */
  private queued: UsageCount[] = [];
  private readonly loop = new FlushLoop(USAGE_FLUSH_MS, () => this.flush());

  constructor(private readonly store: Store, private readonly onError: (err: unknown) => void) {}

  /** One answered request (`status` > 0) made with the token. */
  count(tokenId: string, listener: string, status: number, bytesIn: number, bytesOut: number, now = Date.now()): void {
    const li = LISTENERS.indexOf(listener as (typeof LISTENERS)[number]);
    const ci = Math.floor(status / 100) - 1;
    if (li < 0 || ci < 0 || ci >= CLASSES.length) return;
    const minute = Math.floor(now / 60_000);
    let tally = this.pending.get(tokenId);
    if (tally === undefined || tally.minute !== minute) {
      if (tally !== undefined) this.queue(countsOf(tally));
      tally = { tokenId, minute, cells: new Float64Array(CELLS) };
      this.pending.set(tokenId, tally);
    }
    const at = (li * CLASSES.length + ci) * 3;
    tally.cells[at]++;
    tally.cells[at + 1] += bytesIn;
    tally.cells[at + 2] += bytesOut;
  }

  async flush(): Promise<void> {
    const counts = this.queued;
    for (const tally of this.pending.values()) counts.push(...countsOf(tally));
    this.pending = new Map();
    this.queued = [];
    if (counts.length === 0) return;
    await this.loop.track(this.write(counts));
  }

  close(): Promise<void> {
    return this.loop.close();
  }

  private async write(counts: UsageCount[]): Promise<void> {
    try {
      await this.store.addUsage(counts);
    } catch (err) {
      this.onError(err);
      this.queue(counts);
    }
  }

  private queue(counts: UsageCount[]): void {
    this.queued.push(...counts);
    if (this.queued.length > MAX_QUEUED) this.queued.splice(0, this.queued.length - MAX_QUEUED);
  }
}

function countsOf(tally: Tally): UsageCount[] {
  const counts: UsageCount[] = [];
  for (const [li, listener] of LISTENERS.entries()) {
    for (const [ci, statusClass] of CLASSES.entries()) {
      const at = (li * CLASSES.length + ci) * 3;
      const requests = tally.cells[at];
      if (requests === 0) continue;
      counts.push({ tokenId: tally.tokenId, minute: tally.minute, listener, statusClass, requests, bytesIn: tally.cells[at + 1], bytesOut: tally.cells[at + 2] });
    }
  }
  return counts;
}
