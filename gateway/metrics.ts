import { Counter, Registry, collectDefaultMetrics } from 'prom-client';
import type { CacheObserver } from './auth/token-cache';
import { RequestMetrics } from './request-metrics';

/** Every metric the gateway exports on /metrics, registered once per process. */
export class Metrics {
  readonly registry = new Registry();
  /** gatehouse_requests_total and gatehouse_request_duration_seconds, tallied cheaply per request. */
  readonly requests = new RequestMetrics(this.registry);
  /** Cache hits not yet handed to the counter: one per protected request, so counted as a plain number until a scrape. */
  private pendingHits = 0;
  readonly cacheHits: Counter = new Counter({
    name: 'gatehouse_token_cache_hits_total',
    help: 'Token lookups answered from the in-process cache.',
    registers: [this.registry],
    collect: () => {
      if (this.pendingHits === 0) return;
      this.cacheHits.inc(this.pendingHits);
      this.pendingHits = 0;
    },
  });
  readonly cacheMisses = new Counter({ name: 'gatehouse_token_cache_misses_total', help: 'Token lookups that went to the store.', registers: [this.registry] });
  readonly cacheStale = new Counter({ name: 'gatehouse_token_cache_stale_total', help: 'Stale cache entries served while the store was failing.', registers: [this.registry] });
  readonly storeErrors = new Counter({ name: 'gatehouse_store_errors_total', help: 'Token store calls that failed.', registers: [this.registry] });
  readonly limitsFailOpen = new Counter({
    name: 'gatehouse_limit_checks_failed_open_total',
    help: 'Limited requests let through unchecked because the store did not answer the limit check.',
    registers: [this.registry],
  });
  readonly adminRequests = new Counter({
    name: 'gatehouse_admin_requests_total',
    help: 'Admin API calls by method, route pattern and status.',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [this.registry],
  });
  readonly storeConnectionEvents = new Counter({
    name: 'gatehouse_store_connection_events_total',
    help: 'Token store connections seen coming back (commands_reconnected, events_reconnected) and failovers seen (another primary answers).',
    labelNames: ['event'] as const,
    registers: [this.registry],
  });
  readonly propagation = new Counter({
    name: 'gatehouse_propagation_events_total',
    help: 'Change events received from the shared store, by kind.',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });

  /**
   * `hostMetrics`: in a worker, the sum over the host's workers (each answers
   * for its own requests); otherwise this registry is the whole answer.
   */
  constructor(private readonly hostMetrics?: () => Promise<string>) {
    collectDefaultMetrics({ register: this.registry, prefix: 'gatehouse_' });
  }

  /** The /metrics text. */
  scrape(): Promise<string> {
    return this.hostMetrics ? this.hostMetrics() : this.registry.metrics();
  }

  cacheObserver(): CacheObserver {
    return {
      hit: () => { this.pendingHits++; },
      miss: () => this.cacheMisses.inc(),
      stale: () => this.cacheStale.inc(),
      storeError: () => this.storeErrors.inc(),
    };
  }
}
