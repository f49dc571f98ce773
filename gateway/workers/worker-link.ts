import type { Registry } from 'prom-client';
import { HostFailedAuthLimiter } from './host-failed-auth';
import { isOurs, type BoundListeners, type FromSupervisor, type FromWorker } from './messages';

/** How long a worker waits for the host-wide metrics before answering /metrics with an error. */
const METRICS_TIMEOUT_MS = 5_000;

/**
 * A worker's side of the channel to its supervisor: the config it starts
 * with and reloads to, failed-auth counts shared with its peers, and the
 * host-wide metrics. One per worker process.
 */
export class WorkerLink {
  private onConfig: ((text: string) => void) | undefined;
  private onReload: ((text: string | null) => void) | undefined;
  private limiter: HostFailedAuthLimiter | undefined;
  private registry: Registry | undefined;
  private readonly scrapes = new Map<number, (text: string | Error) => void>();
  private nextScrape = 0;

  constructor(readonly slot: number) {
    process.on('message', (message: unknown) => {
      if (isOurs<FromSupervisor>(message)) this.receive(message);
    });
  }

  /** The config text the supervisor runs (so every worker starts on the same one, even if the file changed since). */
  config(): Promise<string> {
    return new Promise((resolve) => {
      this.onConfig = resolve;
      this.send({ type: 'gatehouse:config?' });
    });
  }

  ready(listeners: BoundListeners): void {
    this.send({ type: 'gatehouse:ready', listeners });
  }

  /** Resolves once the message is on its way (the worker exits next). */
  failed(message: string): Promise<void> {
    return new Promise((resolve) => {
      if (!process.connected || !process.send) return resolve();
      process.send({ type: 'gatehouse:failed', message } satisfies FromWorker, undefined, {}, () => resolve());
    });
  }

  /** Called on every SIGHUP the supervisor passes on: with the new config text, or null when it refused the file. */
  reloads(apply: (text: string | null) => void): void {
    this.onReload = apply;
  }

  failedAuthLimiter(perMinute: number): HostFailedAuthLimiter {
    this.limiter = new HostFailedAuthLimiter(perMinute, (counts) => this.send({ type: 'gatehouse:failed-auth', counts }));
    return this.limiter;
  }

  /** Answers the supervisor's collections from this registry. */
  exposeMetrics(registry: Registry): void {
    this.registry = registry;
  }

  /** Every worker's metrics, summed by the supervisor (prom-client's AggregatorRegistry). */
  hostMetrics(): Promise<string> {
    const id = this.nextScrape++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => settle(new Error('the supervisor did not answer with the host metrics')), METRICS_TIMEOUT_MS);
      const settle = (result: string | Error): void => {
        clearTimeout(timer);
        this.scrapes.delete(id);
        if (result instanceof Error) reject(result);
        else resolve(result);
      };
      this.scrapes.set(id, settle);
      this.send({ type: 'gatehouse:metrics?', id });
    });
  }

  private receive(message: FromSupervisor): void {
    switch (message.type) {
      case 'gatehouse:config': return this.onConfig?.(message.text);
      case 'gatehouse:reload': return this.onReload?.(message.text);
      case 'gatehouse:failed-auth': return this.limiter?.recordPeerFailures(message.counts);
      case 'gatehouse:metrics': return this.scrapes.get(message.id)?.(message.text ?? new Error('a worker could not collect its metrics'));
      case 'gatehouse:metrics-json?': {
        const { id } = message;
        const registry = this.registry;
        if (!registry) return this.send({ type: 'gatehouse:metrics-json', id, metrics: [] });
        registry.getMetricsAsJSON().then(
          (metrics) => this.send({ type: 'gatehouse:metrics-json', id, metrics }),
          () => this.send({ type: 'gatehouse:metrics-json', id, metrics: null }),
        );
      }
    }
  }

  private send(message: FromWorker): void {
    // The supervisor is gone (the process is about to exit with it): nothing to tell.
    if (process.connected) process.send?.(message);
  }
}
