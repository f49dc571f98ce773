import cluster, { type Worker } from 'node:cluster';
import { AggregatorRegistry } from 'prom-client';
import { ConfigError } from '../config/env';
import { parseConfig, readConfigFile } from '../config/load';
import type { Logger } from '../log';
import { WORKER_ENV, isOurs, type BoundListeners, type FromSupervisor, type FromWorker, type MetricsJson } from './messages';

/** A worker that dies sooner than this after its start counts as failing again: its restart waits longer. */
const HEALTHY_AFTER_MS = 10_000;
const FIRST_RESTART_MS = 100;
/** The longest wait before a restart: with the worker's own start it stays within SPEC §4's five seconds. */
const MAX_RESTART_MS = 2_000;
const COLLECT_TIMEOUT_MS = 3_000;
const STUCK_MARGIN_MS = 5_000;

interface Slot {
  readonly n: number;
  worker: Worker | undefined;
  /** The worker listens (and answers the supervisor's messages). */
  ready: boolean;
  startedAt: number;
  /** Deaths in a row, each within HEALTHY_AFTER_MS of its start. */
  failures: number;
  restart: NodeJS.Timeout | undefined;
}

interface Collection {
  readonly requester: Worker;
  readonly requestId: number;
  readonly awaited: Set<Worker>;
  readonly parts: MetricsJson[];
  readonly timer: NodeJS.Timeout;
}

/**
 * The process `gatehouse serve` becomes with `workers` above 1: it forks the
 * workers, restarts one that dies, relays between them (reloads, failed-auth
 * counts, metrics) and serves no request itself.
 *
 * node:cluster rather than SO_REUSEPORT: the supervisor binds each listener
 * once and the workers share that socket, so a listener on port 0 is one port
 * for all of them, and a taken port fails the start instead of being silently
 * shared with another process of the same user that set SO_REUSEPORT. With
 * SO_REUSEPORT, connections waiting in a dead worker's own queue are reset.
 *
 * SCHED_NONE rather than cluster's default round robin: with round robin the
 * supervisor accepts every connection and passes it to a worker over IPC, and a
 * connection passed to a worker as it died stays open in the supervisor with
 * nobody reading it (the client hangs; seen in the kill -9 test). With
 * SCHED_NONE each worker accepts from the shared queue itself: one that dies
 * takes only its own connections with it, and the supervisor is off the
 * connection path. The balance is the kernel's (whichever worker is free
 * accepts); the benchmark's two-worker row shows it.
 */
export class Supervisor {
  private readonly slots: Slot[];
  private readonly collections = new Map<number, Collection>();
  private nextCollection = 0;
  private text: string;
  private stopping = false;
  private started = false;
  private onStartFailure: ((message: string) => void) | undefined;
  private onReady: ((listeners: BoundListeners) => void) | undefined;
  private readyCount = 0;

  /** `grace`: `shutdown.grace`; a worker still running this long after SIGTERM (plus a margin) is killed. */
  constructor(private readonly file: string, text: string, count: number, private readonly grace: number, readonly log: Logger) {
    this.text = text;
    this.slots = Array.from({ length: count }, (_, i) => ({ n: i + 1, worker: undefined, ready: false, startedAt: 0, failures: 0, restart: undefined }));
  }

  get workers(): number {
    return this.slots.length;
  }

  /** Forks every worker; resolves with the listeners once all listen, rejects with the first failure (no worker left running). */
  async start(): Promise<BoundListeners> {
    // Read at the first fork; NODE_CLUSTER_SCHED_POLICY in the environment would otherwise decide.
    cluster.schedulingPolicy = cluster.SCHED_NONE;
    const ready = new Promise<BoundListeners>((resolve, reject) => {
      this.onReady = resolve;
      this.onStartFailure = (message) => reject(new Error(message));
    });
    for (const slot of this.slots) this.fork(slot);
    try {
      const listeners = await ready;
      this.started = true;
      return listeners;
    } catch (err) {
      await this.killAll();
      throw err;
    }
  }

  /**
   * SIGHUP: a new config goes to every worker only if it is valid here (each worker checks it
   * again as it applies it); either way every worker re-reads its listeners' certificates.
   */
  reload(): void {
    let text: string;
    let level: string;
    try {
      text = readConfigFile(this.file);
      level = parseConfig(text, this.file).log.level;
    } catch (err) {
      this.log.error({ err: err instanceof ConfigError ? err.message : err }, 'config reload refused; keeping the running config');
      this.broadcast({ type: 'gatehouse:reload', text: null });
      return;
    }
    this.text = text;
    this.log.level = level;
    this.broadcast({ type: 'gatehouse:reload', text });
  }

  /** SIGTERM: every worker drains; resolves with 0 once the last one exited cleanly. */
  async stop(signal: string): Promise<number> {
    this.stopping = true;
    this.log.info({ signal }, 'draining every worker');
    const exits: Promise<number>[] = [];
    for (const slot of this.slots) {
      clearTimeout(slot.restart);
      const worker = slot.worker;
      if (worker === undefined) continue;
      exits.push(exitOf(worker));
      worker.process.kill('SIGTERM');
    }
    // Each worker bounds its own drain by the grace; this only catches one that is stuck.
    const stuck = setTimeout(() => {
      for (const slot of this.slots) slot.worker?.process.kill('SIGKILL');
    }, this.grace + STUCK_MARGIN_MS);
    const codes = await Promise.all(exits);
    clearTimeout(stuck);
    const clean = codes.every((code) => code === 0);
    this.log.info({ clean }, 'stopped');
    return clean ? 0 : 1;
  }

  private fork(slot: Slot): void {
    slot.restart = undefined;
    slot.ready = false;
    slot.startedAt = Date.now();
    const worker = cluster.fork({ [WORKER_ENV]: String(slot.n) });
    slot.worker = worker;
    // A send racing the worker's exit fails here; the exit event that follows does the rest.
    worker.on('error', () => undefined);
    worker.on('message', (message: unknown) => {
      if (isOurs<FromWorker>(message)) this.receive(slot, worker, message);
    });
    worker.once('exit', (code, signal) => this.exited(slot, worker, code, signal));
  }

  private receive(slot: Slot, worker: Worker, message: FromWorker): void {
    switch (message.type) {
      case 'gatehouse:config?': return send(worker, { type: 'gatehouse:config', text: this.text });
      case 'gatehouse:ready': {
        slot.ready = true;
        if (this.started) return this.log.info({ slot: slot.n, pid: worker.process.pid }, `worker ${slot.n} restarted`);
        if (++this.readyCount === this.slots.length) this.onReady?.(message.listeners);
        return;
      }
      case 'gatehouse:failed': {
        if (!this.started) return this.onStartFailure?.(message.message);
        return this.log.error({ slot: slot.n, err: message.message }, `worker ${slot.n} could not start`);
      }
      case 'gatehouse:failed-auth': {
        for (const other of this.slots) if (other.worker && other.worker !== worker) send(other.worker, message);
        return;
      }
      case 'gatehouse:metrics?': return this.collect(worker, message.id);
      case 'gatehouse:metrics-json': return this.collected(worker, message.id, message.metrics);
    }
  }

  private exited(slot: Slot, worker: Worker, code: number | null, signal: string | null): void {
    if (slot.worker === worker) {
      slot.worker = undefined;
      slot.ready = false;
    }
    for (const [id, collection] of this.collections) {
      if (collection.awaited.delete(worker)) this.finishIfDone(id, collection);
    }
    if (this.stopping) return;
    if (!this.started) {
      this.onStartFailure?.(`worker ${slot.n} exited (${signal ?? `code ${String(code)}`}) before it listened`);
      return;
    }
    slot.failures = Date.now() - slot.startedAt < HEALTHY_AFTER_MS ? slot.failures + 1 : 0;
    const delay = Math.min(MAX_RESTART_MS, FIRST_RESTART_MS * 2 ** slot.failures);
    this.log.error({ slot: slot.n, pid: worker.process.pid, code, signal, restart_in_ms: delay }, `worker ${slot.n} died; restarting it`);
    slot.restart = setTimeout(() => this.fork(slot), delay);
  }

  /** Asks every worker for its metrics, answers the one that was scraped with their sum. */
  private collect(requester: Worker, requestId: number): void {
    const id = this.nextCollection++;
    const awaited = new Set<Worker>();
    // A worker still starting has counted nothing yet, and may not be listening to its channel.
    for (const slot of this.slots) if (slot.ready && slot.worker?.isConnected()) awaited.add(slot.worker);
    const timer = setTimeout(() => this.finish(id, null), COLLECT_TIMEOUT_MS);
    this.collections.set(id, { requester, requestId, awaited, parts: [], timer });
    for (const worker of awaited) send(worker, { type: 'gatehouse:metrics-json?', id });
  }

  private collected(worker: Worker, id: number, metrics: MetricsJson | null): void {
    const collection = this.collections.get(id);
    if (!collection || !collection.awaited.delete(worker)) return;
    if (metrics === null) return void this.finish(id, null);
    collection.parts.push(metrics);
    this.finishIfDone(id, collection);
  }

  private finishIfDone(id: number, collection: Collection): void {
    if (collection.awaited.size > 0) return;
    AggregatorRegistry.aggregate(collection.parts).metrics().then((text) => this.finish(id, text), () => this.finish(id, null));
  }

  private finish(id: number, text: string | null): void {
    const collection = this.collections.get(id);
    if (!collection) return;
    this.collections.delete(id);
    clearTimeout(collection.timer);
    send(collection.requester, { type: 'gatehouse:metrics', id: collection.requestId, text });
  }

  private broadcast(message: FromSupervisor): void {
    for (const slot of this.slots) if (slot.worker) send(slot.worker, message);
  }

  /** After a failed start: no worker may outlive the supervisor's exit status. */
  private async killAll(): Promise<void> {
    this.stopping = true;
    const exits: Promise<number>[] = [];
    for (const slot of this.slots) {
      clearTimeout(slot.restart);
      if (slot.worker === undefined) continue;
      exits.push(exitOf(slot.worker));
      slot.worker.process.kill('SIGKILL');
    }
    await Promise.all(exits);
  }
}

function send(worker: Worker, message: FromSupervisor): void {
  // A worker that is exiting has closed its channel; its exit event follows.
  if (worker.isConnected()) worker.send(message);
}

/**
 * Resolves with the worker's exit code. Ended by SIGTERM counts as clean: a worker
 * still starting has no handler for it yet, and nothing in flight.
 */
function exitOf(worker: Worker): Promise<number> {
  const status = (code: number | null, signal: string | null): number => code ?? (signal === 'SIGTERM' ? 0 : 1);
  const { exitCode, signalCode } = worker.process;
  if (exitCode !== null || signalCode !== null) return Promise.resolve(status(exitCode, signalCode));
  return new Promise((resolve) => worker.process.once('exit', (code, signal) => resolve(status(code, signal))));
}
