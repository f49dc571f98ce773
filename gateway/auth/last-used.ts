import type { Store } from '../store/types';
import { FlushLoop } from './flush-loop';

const FLUSH_EVERY_MS = 60_000;

/**
 * Remembers when tokens were last used and writes them to the store in one
 * batch a minute: never a store write per request.
 */
export class LastUsedRecorder {
  private pending = new Map<string, string>();
  private readonly markedAt = new Map<string, number>();
  private readonly loop = new FlushLoop(FLUSH_EVERY_MS, () => this.flush());

  constructor(private readonly store: Store, private readonly onError: (err: unknown) => void) {}

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
    await this.loop.track(this.write(batch));
  }

  close(): Promise<void> {
    return this.loop.close();
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
