import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { CacheObserver } from './auth/token-cache';

/** Every metric the gateway exports on /metrics, registered once per process. */
export class Metrics {
  readonly registry = new Registry();
  readonly requests = new Counter({
    name: 'gatehouse_requests_total',
    help: 'Requests by deployment, listener, protocol, decision reason and status.',
    labelNames: ['deployment', 'listener', 'protocol', 'reason', 'status'] as const,
    registers: [this.registry],
  });
  readonly duration = new Histogram({
    name: 'gatehouse_request_duration_seconds',
    help: 'Time from request start to the end of the response, by deployment, listener and protocol.',
    labelNames: ['deployment', 'listener', 'protocol'] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
    registers: [this.registry],
  });
  readonly cacheHits = new Counter({ name: 'gatehouse_token_cache_hits_total', help: 'Token lookups answered from the in-process cache.', registers: [this.registry] });
  readonly cacheMisses = new Counter({ name: 'gatehouse_token_cache_misses_total', help: 'Token lookups that went to the store.', registers: [this.registry] });
  readonly cacheStale = new Counter({ name: 'gatehouse_token_cache_stale_total', help: 'Stale cache entries served while the store was failing.', registers: [this.registry] });
  readonly storeErrors = new Counter({ name: 'gatehouse_store_errors_total', help: 'Token store calls that failed.', registers: [this.registry] });
  readonly adminRequests = new Counter({
    name: 'gatehouse_admin_requests_total',
    help: 'Admin API calls by method, route pattern and status.',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [this.registry],
  });
  readonly propagation = new Counter({
    name: 'gatehouse_propagation_events_total',
    help: 'Change events received from the shared store, by kind.',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'gatehouse_' });
  }

  cacheObserver(): CacheObserver {
    return {
      hit: () => this.cacheHits.inc(),
      miss: () => this.cacheMisses.inc(),
      stale: () => this.cacheStale.inc(),
      storeError: () => this.storeErrors.inc(),
    };
  }
}
