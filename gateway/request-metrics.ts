import { Counter, type Registry } from 'prom-client';

const REQUESTS = 'gatehouse_requests_total';
const DURATION = 'gatehouse_request_duration_seconds';
const BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300] as const;

type RequestLabels = { deployment: string; listener: string; protocol: string; reason: string; status: string };
type DurationLabels = { deployment: string; listener: string; protocol: string };

interface CountTally {
  readonly labels: RequestLabels;
  /** Requests counted since the last scrape, not yet handed to the prom-client counter. */
  pending: number;
}

/** One (deployment, listener, protocol): its latency histogram and its request counts by reason and status. */
class Scope {
  readonly buckets = new Float64Array(BUCKETS.length + 1);
  sum = 0;
  count = 0;
  readonly counts = new Map<string, Map<number, CountTally>>();
  constructor(readonly labels: DurationLabels) {}

  observe(seconds: number): void {
    let i = 0;
    while (i < BUCKETS.length && seconds > BUCKETS[i]) i++;
    this.buckets[i]++;
    this.sum += seconds;
    this.count++;
  }

  tally(reason: string, status: number): CountTally {
    let byStatus = this.counts.get(reason);
    if (byStatus === undefined) this.counts.set(reason, (byStatus = new Map()));
    let tally = byStatus.get(status);
    if (tally === undefined) {
      tally = { labels: { ...this.labels, reason, status: String(status) }, pending: 0 };
      byStatus.set(status, tally);
    }
    return tally;
  }
}

/** A sample as prom-client's registry prints it. */
interface Sample {
  readonly labels: Record<string, string | number>;
  readonly value: number;
  readonly metricName: string;
}

/**
 * The per-request metrics (`gatehouse_requests_total` and
 * `gatehouse_request_duration_seconds`), tallied in plain numbers found
 * through a few map lookups and handed to the registry only when /metrics is
 * read. prom-client's own `inc`/`observe` validate and hash their labels on
 * every call, which cost more than the rest of a refusal's bookkeeping.
 */
export class RequestMetrics {
  private readonly scopes = new Map<string, Map<string, Map<string, Scope>>>();

  constructor(registry: Registry) {
    const all = (): Iterable<Scope> => this.allScopes();
    new Counter({
      name: REQUESTS,
      help: 'Requests by deployment, listener, protocol, decision reason and status.',
      labelNames: ['deployment', 'listener', 'protocol', 'reason', 'status'] as const,
      registers: [registry],
      collect() {
        for (const scope of all()) {
          for (const byStatus of scope.counts.values()) {
            for (const tally of byStatus.values()) {
              if (tally.pending === 0) continue;
              this.inc(tally.labels, tally.pending);
              tally.pending = 0;
            }
          }
        }
      },
    });
    // The registry reads any object with prom-client's metric shape; this one builds its samples from the tallies.
    const histogram = {
      name: DURATION,
      help: 'Time from request start to the end of the response, by deployment, listener and protocol.',
      type: 'histogram',
      aggregator: 'sum',
      get: async () => ({ name: histogram.name, help: histogram.help, type: histogram.type, aggregator: histogram.aggregator, values: this.durationSamples() }),
      reset: () => {
        for (const scope of this.allScopes()) {
          scope.buckets.fill(0);
          scope.sum = 0;
          scope.count = 0;
        }
      },
    };
    registry.registerMetric(histogram as unknown as Parameters<Registry['registerMetric']>[0]);
  }

  /** Counts one finished request and its duration. */
  record(deployment: string, listener: string, protocol: string, reason: string, status: number, seconds: number): void {
    const scope = this.scope(deployment, listener, protocol);
    scope.observe(seconds);
    scope.tally(reason, status).pending++;
  }

  private scope(deployment: string, listener: string, protocol: string): Scope {
    let byProtocol = this.scopes.get(listener);
    if (byProtocol === undefined) this.scopes.set(listener, (byProtocol = new Map()));
    let byDeployment = byProtocol.get(protocol);
    if (byDeployment === undefined) byProtocol.set(protocol, (byDeployment = new Map()));
    let scope = byDeployment.get(deployment);
    if (scope === undefined) byDeployment.set(deployment, (scope = new Scope({ deployment, listener, protocol })));
    return scope;
  }

  private *allScopes(): Iterable<Scope> {
    for (const byProtocol of this.scopes.values()) {
      for (const byDeployment of byProtocol.values()) yield* byDeployment.values();
    }
  }

  /** Cumulative buckets, +Inf, sum and count per label set, as prom-client's Histogram reports them. */
  private durationSamples(): Sample[] {
    const samples: Sample[] = [];
    for (const scope of this.allScopes()) {
      if (scope.count === 0) continue;
      let cumulative = 0;
      for (let i = 0; i < BUCKETS.length; i++) {
        cumulative += scope.buckets[i];
        samples.push({ labels: { le: BUCKETS[i], ...scope.labels }, value: cumulative, metricName: `${DURATION}_bucket` });
      }
      samples.push(
        { labels: { le: '+Inf', ...scope.labels }, value: scope.count, metricName: `${DURATION}_bucket` },
        { labels: scope.labels, value: scope.sum, metricName: `${DURATION}_sum` },
        { labels: scope.labels, value: scope.count, metricName: `${DURATION}_count` },
      );
    }
    return samples;
  }
}
