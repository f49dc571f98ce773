/** How long an upstream that just failed to connect is passed over. */
const DOWN_FOR_MS = 2_000;

/**
 * Round robin over a Deployment's upstreams, skipping one that just failed to
 * connect while any other is up. Shared by the HTTP pools and the gRPC sessions.
 */
export class RoundRobin {
  private readonly downUntil: number[];
  private next = 0;

  constructor(readonly origins: readonly string[]) {
    this.downUntil = origins.map(() => 0);
  }

  get size(): number {
    return this.origins.length;
  }

  /** The index of the next upstream to use. */
  pick(): number {
    const n = this.origins.length;
    // One upstream is used whether or not it is down: no clock to read.
    if (n === 1) return 0;
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

  markDown(index: number): void {
    this.downUntil[index] = Date.now() + DOWN_FOR_MS;
  }

  markUp(index: number): void {
    this.downUntil[index] = 0;
  }
}
