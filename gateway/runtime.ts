import type { Decider } from './auth/decide';
import type { TokenCache } from './auth/token-cache';
import type { UsageRecorder } from './auth/usage';
import type { GatehouseConfig } from './config/schema';
import { Challenges } from './http/refusal';
import { cidrMatcher } from './http/cidr';
import type { Logger, RequestLogLine } from './log';
import type { Metrics } from './metrics';
import { writeRequestLine } from './request-log';
import type { RouteTable } from './routing/route-table';
import type { Store } from './store/types';

/**
 * What request handlers read on every request. Reload swaps `config`,
 * `routes` and the derived fields in place, so handlers built once keep
 * working with the newest settings.
 */
export class Runtime {
  config: GatehouseConfig;
  routes: RouteTable;
  challenges: Challenges;
  isTrustedProxy: (address: string | undefined) => boolean;
  /** Set while draining: new requests are refused, in-flight ones finish. */
  draining = false;
  /** Requests and streams in flight, so a drain knows when it is done. */
  inflight = 0;

  constructor(
    config: GatehouseConfig,
    routes: RouteTable,
    readonly store: Store,
    readonly cache: TokenCache,
    readonly decider: Decider,
    readonly log: Logger,
    readonly metrics: Metrics,
    readonly usage: UsageRecorder,
  ) {
    this.config = config;
    this.routes = routes;
    this.challenges = new Challenges(config.organization);
    this.isTrustedProxy = cidrMatcher(config.trustedProxies);
  }

  /** Applies a new config and route table (reload or a Deployment change). */
  apply(config: GatehouseConfig, routes: RouteTable): void {
    const old = this.routes;
    this.config = config;
    this.routes = routes;
    this.challenges = new Challenges(config.organization);
    this.isTrustedProxy = cidrMatcher(config.trustedProxies);
    this.cache.reconfigure(config.cache);
    old.retire(routes);
  }

  /** The end of every request: one log line and the metrics. */
  record(line: RequestLogLine, startedAt: number): void {
    const seconds = (performance.now() - startedAt) / 1000;
    line.duration_ms = Math.round(seconds * 1e6) / 1e3;
    this.metrics.requests.record(line.deployment ?? '', line.listener, line.protocol, line.reason, line.status, seconds);
    if (line.token_id !== undefined && line.status > 0) this.usage.count(line.token_id, line.listener, line.status, line.bytes_in ?? 0, line.bytes_out ?? 0);
    writeRequestLine(this.log, line, line.status >= 500 || line.reason.startsWith('upstream_') ? 'warn' : 'info');
  }
}
