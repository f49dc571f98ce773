import type { Registry } from 'prom-client';

/** One worker's metrics as `registry.getMetricsAsJSON()` gives them: what AggregatorRegistry.aggregate() sums. */
export type MetricsJson = Awaited<ReturnType<Registry['getMetricsAsJSON']>>;

/** The env var that tells a forked `gatehouse serve` it is worker N (1-based) rather than the supervisor. */
export const WORKER_ENV = 'GATEHOUSE_WORKER';

/** Failed authentications per client address, as seen by one worker since its last report. */
export type FailureCounts = [address: string, failures: number][];

/** Listener addresses a worker bound, for the supervisor's start line. */
export type BoundListeners = { kind: string; address: string }[];

/** What a worker tells its supervisor. */
export type FromWorker =
  | { type: 'gatehouse:config?' }
  | { type: 'gatehouse:ready'; listeners: BoundListeners }
  | { type: 'gatehouse:failed'; message: string }
  | { type: 'gatehouse:failed-auth'; counts: FailureCounts }
  | { type: 'gatehouse:metrics?'; id: number }
  /** null: this worker could not collect its metrics (the scrape fails rather than undercount). */
  | { type: 'gatehouse:metrics-json'; id: number; metrics: MetricsJson | null };

/** What a supervisor tells a worker. */
export type FromSupervisor =
  | { type: 'gatehouse:config'; text: string }
  /** null: the file was refused; the certificates are re-read all the same (SIGHUP does both). */
  | { type: 'gatehouse:reload'; text: string | null }
  | { type: 'gatehouse:failed-auth'; counts: FailureCounts }
  | { type: 'gatehouse:metrics-json?'; id: number }
  /** null: the host's metrics could not be collected. */
  | { type: 'gatehouse:metrics'; id: number; text: string | null };

/**
 * Our messages, told apart from others on the same channel (Node's own
 * cluster messages). Both ends are this program, so the type names the shape.
 */
export function isOurs<T extends { type: string }>(message: unknown): message is T {
  return typeof message === 'object' && message !== null && typeof (message as { type?: unknown }).type === 'string'
    && (message as { type: string }).type.startsWith('gatehouse:');
}
