import { checkPepper } from './auth/pepper-fingerprint';
import { Decider } from './auth/decide';
import { FailedAuthLimiter } from './auth/failed-auth-limiter';
import { LastUsedRecorder } from './auth/last-used';
import { TokenCache } from './auth/token-cache';
import { UsageRecorder } from './auth/usage';
import { memoizedHasher, tokenHasher } from './auth/token-hash';
import { loadConfig } from './config/load';
import { Limiter } from './limits/limiter';
import type { GatehouseConfig, ListenerKind } from './config/schema';
import { adminHandler } from './admin/admin-handler';
import { guardAdminHost } from './admin/admin-hosts';
import { clientErrorRecorder, connectHandler, isH2Connect, refuseH2Connect } from './http/edge-refusals';
import { h2HttpHandler, isGrpc } from './http/h2-adapter';
import { http1Handler } from './http/http1-adapter';
import { Listener } from './http/listener';
import { StreamPacer } from './http/stream-pacer';
import { CertificateReloader } from './http/tls-reload';
import { upgradeHandler } from './http/websocket';
import { grpcHandler } from './grpc/grpc-adapter';
import { createLogger, type Logger } from './log';
import { Metrics } from './metrics';
import { RouteTable } from './routing/route-table';
import { Runtime } from './runtime';
import { openStore } from './store/open-store';
import { StoreUnavailableError, type Store, type StoreEvent } from './store/types';
import type { WorkerLink } from './workers/worker-link';

export interface GatewayOptions {
  /** Overrides the logger (tests read log lines through it). */
  readonly logger?: Logger;
  /** How long this process's concurrency slots outlive it (tests shorten it). */
  readonly limitLeaseMs?: number;
  /** Set in a worker: failed-auth counts and metrics are shared with the host's other workers through it. */
  readonly workers?: WorkerLink;
}

/** While the store is down at start, how often the pepper check is tried again. */
const PEPPER_RETRY_MS = 1_000;

/**
 * A running gateway: the config, the store, the runtime the handlers read,
 * and the listeners. `main.ts` wires it to signals.
 */
export class Gateway {
  readonly listeners: { readonly kind: ListenerKind; readonly listener: Listener }[] = [];
  private readonly lastUsed: LastUsedRecorder;
  private readonly limiter: FailedAuthLimiter;
  private readonly limits: Limiter;
  private certificates: CertificateReloader | undefined;

  private constructor(readonly runtime: Runtime, lastUsed: LastUsedRecorder, limiter: FailedAuthLimiter, limits: Limiter) {
    this.failed = new Promise((resolve) => { this.fail = resolve; });
    this.lastUsed = lastUsed;
    this.limiter = limiter;
    this.limits = limits;
  }

  static async start(config: GatehouseConfig, options: GatewayOptions = {}): Promise<Gateway> {
    const log = options.logger ?? createLogger(config.log.level);
    if (config.tokens.pepper === '') log.warn('tokens.pepper is empty: stored token hashes are unkeyed; set GATEHOUSE_PEPPER');
    let lastStoreError = 0;
    const link = options.workers;
    const metrics = new Metrics(link && (() => link.hostMetrics()));
    link?.exposeMetrics(metrics.registry);
    const storeKey = storeKeyPath(config.store);
    const store = await openStore(config.store, {
      // ioredis reports every failed reconnect; one line per 10 s is enough to see an outage.
      onError: (err) => {
        const now = Date.now();
        if (now - lastStoreError < 10_000) return;
        lastStoreError = now;
        log.error({ key: storeKey, err: err.message }, `token store connection failed (${storeKey}); retrying`);
      },
      onConnectionEvent: (event) => {
        metrics.storeConnectionEvents.inc({ event });
        log.warn({ key: storeKey, event }, event === 'failover' ? 'token store failover: another primary answers' : 'token store connection is back');
      },
    });
    const pepperChecked = await pepperCheckedNow(store, config);
    const cache = new TokenCache(store, config.cache, metrics.cacheObserver());
    const limiter = link ? link.failedAuthLimiter(config.failedAuth.perMinute) : new FailedAuthLimiter(config.failedAuth.perMinute);
    const lastUsed = new LastUsedRecorder(store, (err) => log.warn({ err }, 'could not record token last use'));
    let lastUsageError = 0;
    const usage = new UsageRecorder(store, (err) => {
      // A flush every 2 s would log an outage 30 times a minute; the counts are kept meanwhile.
      if (Date.now() - lastUsageError < 60_000) return;
      lastUsageError = Date.now();
      log.warn({ err }, 'could not record token usage; counts are kept for the next flush');
    });
    let lastFailOpen = 0;
    const limits = new Limiter((holder, leaseMs) => store.limitStore(holder, leaseMs), {
      leaseMs: options.limitLeaseMs,
      // Every limited request fails open while the store is down; one line per 10 s says so, the metric counts them all.
      onFailOpen: (err) => {
        metrics.limitsFailOpen.inc();
        const now = Date.now();
        if (now - lastFailOpen < 10_000) return;
        lastFailOpen = now;
        log.error({ err }, 'limit check failed: letting limited requests through until the store answers');
      },
    });
    const decider = new Decider(cache, memoizedHasher(tokenHasher(config.tokens.pepper)), limiter, lastUsed, limits);
    // Watch before the first read, so a change made in between is not missed.
    let gateway: Gateway | undefined;
    let missed = false;
    store.watch((event) => {
      if (gateway) gateway.onStoreEvent(event);
      else missed = true;
    });
    const stored = await store.listDeployments().catch((err: unknown) => {
      log.error({ err }, 'could not read stored Deployments; serving config-managed ones until the store answers');
      return [];
    });
    const runtime = new Runtime(config, new RouteTable(config, stored), store, cache, decider, log, metrics, usage);
    gateway = new Gateway(runtime, lastUsed, limiter, limits);
    if (missed) gateway.onStoreEvent({ kind: 'reset' });
    try {
      await gateway.listen();
    } catch (err) {
      // Listeners bound before the one that failed must let go of their ports, or the process never exits.
      for (const { listener } of gateway.listeners) void listener.stopAccepting();
      await gateway.close();
      throw err;
    }
    gateway.certificates = new CertificateReloader(gateway.listeners, log);
    gateway.certificates.watch();
    // A worker's start is one of several: its supervisor says when the host has started.
    log.info({ listeners: gateway.boundListeners() }, link ? 'worker started' : 'gatehouse started');
    if (!pepperChecked) gateway.checkPepperLater();
    return gateway;
  }

  /** Each listener's kind and bound address (`host:port`). */
  boundListeners(): { kind: ListenerKind; address: string }[] {
    return this.listeners.map((l) => ({ kind: l.kind, address: `${l.listener.config.host}:${l.listener.port}` }));
  }

  private async listen(): Promise<void> {
    const { runtime } = this;
    const config = runtime.config;
    for (const kind of ['external', 'internal'] as const) {
      for (const [i, lc] of config.listeners[kind].entries()) {
        const secure = lc.tls !== undefined;
        const http2Stream = h2HttpHandler(runtime, kind, secure);
        const grpcStream = grpcHandler(runtime, kind, secure);
        const pacer = new StreamPacer((stream, headers) => {
          if (isH2Connect(headers)) refuseH2Connect(runtime, kind, stream, headers[':authority'] ?? '');
          else if (isGrpc(headers)) grpcStream(stream, headers);
          else http2Stream(stream, headers);
        }, runtime);
        const listener = new Listener(lc, {
          request: http1Handler(runtime, kind),
          upgrade: upgradeHandler(runtime, kind),
          connect: connectHandler(runtime, kind),
          stream: pacer.onStream,
          clientError: clientErrorRecorder(runtime, kind),
        }, { http2: true, requestHeadersTimeout: config.timeouts.requestHeaders, onError: this.acceptErrors });
        this.listeners.push({ kind, listener });
        await listenNamed(listener, `listeners.${kind}[${i}]`);
      }
    }
    const admin = adminHandler(runtime, {
      refreshDeployments: () => this.refreshDeployments(),
      markUsed: (tokenId, now) => this.lastUsed.mark(tokenId, now),
    });
    for (const [i, lc] of config.listeners.admin.entries()) {
      const listener = new Listener(lc, { request: guardAdminHost(runtime, lc, admin), clientError: clientErrorRecorder(runtime, 'admin') },
        { http2: false, requestHeadersTimeout: config.timeouts.requestHeaders, onError: this.acceptErrors });
      this.listeners.push({ kind: 'admin', listener });
      await listenNamed(listener, `listeners.admin[${i}]`);
    }
  }

  private lastAcceptError = 0;

  /** A listener that cannot accept (out of descriptors) says so, at most every 10 s: it fails on every attempt. */
  private readonly acceptErrors = (err: Error): void => {
    const now = Date.now();
    if (now - this.lastAcceptError < 10_000) return;
    this.lastAcceptError = now;
    this.runtime.log.error({ err }, 'a listener could not accept a connection');
  };

  /**
   * Settles (never rejects) when the gateway must not go on serving: a pepper that does not
   * match the store's, found once a store that was down at start answers. `serve` then drains and exits 1.
   */
  readonly failed: Promise<Error>;
  private fail: (err: Error) => void = () => {};

  /** Tries the pepper check until the store answers; a mismatch then is fatal. */
  private checkPepperLater(): void {
    const { runtime } = this;
    runtime.log.warn('token store unreachable at start: tokens.pepper is checked against it once it answers');
    const timer = setInterval(() => {
      if (runtime.draining) {
        clearInterval(timer);
        return;
      }
      checkPepper(runtime.store, runtime.config).then(() => clearInterval(timer), (err: unknown) => {
        if (err instanceof StoreUnavailableError) return;
        clearInterval(timer);
        runtime.log.error({ err: (err as Error).message }, 'refusing to serve');
        this.fail(err as Error);
      });
    }, PEPPER_RETRY_MS);
    timer.unref();
  }

  /** The bound port of the n-th listener of a kind (tests listen on port 0). */
  port(kind: ListenerKind, index = 0): number {
    const found = this.listeners.filter((l) => l.kind === kind)[index];
    if (!found) throw new Error(`no ${kind} listener #${index}`);
    return found.listener.port;
  }

  /**
   * Re-reads the config file (or applies `given`: a worker gets the config its supervisor
   * accepted) and the listeners' certificates (SIGHUP). An invalid config throws and leaves
   * the running one in place; certificates reload either way.
   */
  async reload(given?: GatehouseConfig): Promise<GatehouseConfig> {
    const { runtime } = this;
    this.reloadCertificates();
    const next = given ?? loadConfig(runtime.config.source);
    // Sockets, processes, the store connection and the token hash (pepper) are set up once at start: say so rather than ignore a change.
    for (const key of ['listeners', 'workers', 'store', 'tokens'] as const) {
      if (JSON.stringify(next[key]) !== JSON.stringify(runtime.config[key])) runtime.log.warn({ key }, `${key} changed in the config: restart the process to apply`);
    }
    const stored = await runtime.store.listDeployments().catch(() => [...this.storedDeployments()]);
    runtime.apply(next, new RouteTable(next, stored, runtime.routes));
    this.limiter.setLimit(next.failedAuth.perMinute);
    for (const { listener } of this.listeners) listener.setRequestHeadersTimeout(next.timeouts.requestHeaders);
    runtime.log.level = next.log.level;
    return next;
  }

  /** Re-reads the listeners' certificates; a bad pair is refused and the old one kept. */
  reloadCertificates(): void {
    this.certificates?.reload();
  }

  private *storedDeployments() {
    for (const route of this.runtime.routes.routes()) if (!route.configManaged) yield route.spec;
  }

  private onStoreEvent(event: StoreEvent): void {
    const { runtime } = this;
    runtime.metrics.propagation.inc({ kind: event.kind });
    if (event.kind === 'token') {
      runtime.cache.evict(event.hash);
      return;
    }
    if (event.kind === 'reset') runtime.cache.expireAll();
    void this.refreshDeployments();
  }

  /** Rebuilds routes from the store's Deployments (a change made by any process). */
  async refreshDeployments(): Promise<void> {
    const { runtime } = this;
    try {
      const stored = await runtime.store.listDeployments();
      runtime.apply(runtime.config, new RouteTable(runtime.config, stored, runtime.routes));
    } catch (err) {
      runtime.log.warn({ err }, 'could not reload stored Deployments');
    }
  }

  /**
   * Stops accepting traffic, waits for in-flight requests up to `grace` ms, then
   * closes everything. Resolves true when everything finished in time.
   */
  async stop(grace = this.runtime.config.shutdown.grace): Promise<boolean> {
    const { runtime } = this;
    runtime.draining = true;
    const deadline = Date.now() + grace;
    // The admin listener stays open until the end, so probes see what is going on: /healthz 200, /readyz 503.
    for (const { kind, listener } of this.listeners) if (kind !== 'admin') void listener.stopAccepting();
    while (runtime.inflight > 0 && Date.now() < deadline) await delay(25);
    const clean = runtime.inflight === 0;
    await this.close();
    return clean;
  }

  private async close(): Promise<void> {
    this.certificates?.close();
    for (const { kind, listener } of this.listeners) {
      if (kind === 'admin') void listener.stopAccepting();
      listener.destroyAll();
    }
    await this.lastUsed.close();
    await this.runtime.usage.close();
    await this.limits.close();
    for (const route of this.runtime.routes.routes()) {
      route.upstreams.destroy();
      route.grpcUpstreams?.destroy();
    }
    await this.runtime.store.close();
    this.runtime.log.flush?.();
  }
}

/** Binds a listener; a failure names it by its key path, as config errors do. */
async function listenNamed(listener: Listener, path: string): Promise<void> {
  try {
    await listener.listen();
  } catch (err) {
    throw new Error(`${path}: cannot listen on ${listener.config.address}: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * A ref'd wait: once the last request's socket closes it may be all that keeps the
 * process alive, and the drain must still reach close() (last-use times are flushed there).
 */
function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * The pepper check at start: true when done, false when the store is down
 * (the gateway starts and checks later). A mismatch closes the store and throws.
 */
async function pepperCheckedNow(store: Store, config: GatehouseConfig): Promise<boolean> {
  try {
    await checkPepper(store, config);
    return true;
  } catch (err) {
    if (err instanceof StoreUnavailableError) return false;
    await store.close();
    throw err;
  }
}

/** The config key that names where the store is, for log lines about it. */
function storeKeyPath(store: GatehouseConfig['store']): string {
  if (store.driver === 'embedded') return 'store.path';
  return 'url' in store ? 'store.url' : 'sentinels' in store ? 'store.sentinels' : 'store.cluster';
}

/** Loads a config file and starts a gateway on it. */
export async function startGateway(configFile: string, options: GatewayOptions = {}): Promise<Gateway> {
  return Gateway.start(loadConfig(configFile), options);
}
