import { Pool } from 'undici';
import type { Timeouts } from '../config/schema';

/** How long an upstream that refused a connection is passed over by round robin. */
const DOWN_FOR_MS = 2_000;

/** One undici Pool (keep-alive) per upstream origin, picked round robin. */
export class UpstreamSet {
  readonly origins: readonly string[];
  private readonly pools: Pool[];
  private readonly downUntil: number[];
  private next = 0;

  constructor(origins: readonly string[], timeouts: Timeouts) {
    this.origins = origins;
    this.pools = origins.map((origin) => new Pool(origin, {
      connect: { timeout: timeouts.connect },
      keepAliveTimeout: 60_000,
      // The gateway's own idle timeout applies to bodies; undici's defaults would cut long streams.
      bodyTimeout: timeouts.idle,
      headersTimeout: timeouts.response,
    }));
    this.downUntil = origins.map(() => 0);
  }

  /** The index of the next upstream, skipping ones that just refused connections while any other is up. */
  pick(): number {
    const n = this.pools.length;
    const now = Date.now();
    for (let i = 0; i < n; i++) {
      const index = (this.next + i) % n;
      if (this.downUntil[index] <= now) {
        this.next = (index + 1) % n;
        return index;
      }
    }
    const index = this.next;
    this.next = (index + 1) % n;
    return index;
  }

  pool(index: number): Pool {
    return this.pools[index];
  }

  get size(): number {
    return this.pools.length;
  }

  markDown(index: number): void {
    this.downUntil[index] = Date.now() + DOWN_FOR_MS;
  }

  markUp(index: number): void {
    this.downUntil[index] = 0;
  }

  /** Lets in-flight requests finish, then closes the connections. */
  async close(): Promise<void> {
    await Promise.all(this.pools.map((pool) => pool.close().catch(() => undefined)));
  }

  destroy(): void {
    for (const pool of this.pools) pool.destroy().catch(() => undefined);
  }
}
