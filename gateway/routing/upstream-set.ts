import { Pool } from 'undici';
import type { Timeouts } from '../config/schema';
import { RoundRobin } from './round-robin';

/** One undici Pool (keep-alive) per upstream origin, picked round robin. */
export class UpstreamSet extends RoundRobin {
  private readonly pools: Pool[];

  constructor(origins: readonly string[], timeouts: Timeouts) {
    super(origins);
    this.pools = origins.map((origin) => new Pool(origin, {
      connect: { timeout: timeouts.connect },
      keepAliveTimeout: 60_000,
      // The gateway's own idle timeout applies to bodies; undici's defaults would cut long streams.
      bodyTimeout: timeouts.idle,
      headersTimeout: timeouts.response,
      // undici 8 would speak HTTP/2 to an https upstream offering it; forwarding (hop-by-hop rules,
      // Transfer-Encoding, upgrades) is built and tested on HTTP/1.1 to upstreams.
      allowH2: false,
    }));
  }

  pool(index: number): Pool {
    return this.pools[index];
  }

  /** Lets in-flight requests finish, then closes the connections. */
  async close(): Promise<void> {
    await Promise.all(this.pools.map((pool) => pool.close().catch(() => undefined)));
  }

  destroy(): void {
    for (const pool of this.pools) pool.destroy().catch(() => undefined);
  }
}
