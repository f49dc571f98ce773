import type { Store } from '../store/types';

const FLUSH_EVERY_MS = 60_000;

/**
 * Remembers when tokens were last used and writes them to the store in one
 * batch a minute: never a store write per request.
 */
export class LastUsedRecorder {
  private pending = new Map<string, string>();
  private readonly markedAt = new Map<string, number>();
  private readonly timer: NodeJS.Timeout;
  /** The write in progress, which `close` must let finish before the store is closed. */
  private writing: Promise<void> = Promise.resolve();

  constructor(private readonly store: Store, private readonly onError: (err: unknown) => void) {
    this.timer = setInterval(() => void this.flush(), FLUSH_EVERY_MS);
    this.timer.unref();
  }

  mark(id: string, now: number): void {
    const last = this.markedAt.get(id);
    if (last !== undefined && now - last < FLUSH_EVERY_MS) return;
    this.markedAt.set(id, now);
    this.pending.set(id, new Date(now).toISOString());
  }

  async flush(): Promise<void> {
    if (this.pending.size === 0) return;
    const batch = this.pending;
    this.pending = new Map();
    const write = this.write(batch);
    this.writing = this.writing.then(() => write);
    await write;
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.writing;
    await this.flush();
  }

  private async write(batch: Map<string, string>): Promise<void> {
    try {
      await this.store.touchTokens(batch);
    } catch (err) {
      this.onError(err);
      // `mark` skips tokens marked within the minute, so a dropped batch would lose their use for good.
      for (const [id, at] of batch) if (!this.pending.has(id)) this.pending.set(id, at);
    }
    const cutoff = Date.now() - FLUSH_EVERY_MS;
    for (const [id, at] of this.markedAt) if (at < cutoff) this.markedAt.delete(id);
  }
}
