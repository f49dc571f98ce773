import { FailedAuthLimiter } from '../auth/failed-auth-limiter';
import type { FailureCounts } from './messages';

/**
 * `failedAuth.perMinute` per host, not per worker: each worker counts its own
 * failures and the ones its peers report, so every worker's limiter sees the
 * host's count and refuses by itself, with no lookup added to a request.
 * Failures go out in one batch per event-loop turn: a flood of bad tokens
 * costs one message per turn, and the slack is what the other workers refuse
 * in the turn or two a report takes to reach them.
 */
export class HostFailedAuthLimiter extends FailedAuthLimiter {
  private pending = new Map<string, number>();
  private scheduled = false;

  constructor(perMinute: number, private readonly report: (counts: FailureCounts) => void) {
    super(perMinute);
  }

  override recordFailure(address: string): void {
    super.recordFailure(address);
    this.pending.set(address, (this.pending.get(address) ?? 0) + 1);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  }

  /** Failures other workers of this host saw. */
  recordPeerFailures(counts: FailureCounts): void {
    for (const [address, failures] of counts) {
      for (let i = 0; i < failures; i++) super.recordFailure(address);
    }
  }

  private flush(): void {
    this.scheduled = false;
    const counts = [...this.pending];
    this.pending = new Map();
    this.report(counts);
  }
}
