import cluster from 'node:cluster';
import { parseConfig } from '../config/load';
import { Gateway } from '../gateway';
import { createLogger } from '../log';
import { reloadLogged, servedUntilSignal, startupGc } from '../cli/serve-lifecycle';
import { WORKER_ENV } from './messages';
import { WorkerLink } from './worker-link';

/** This process's worker number when a supervisor forked it, else undefined. */
export function workerSlot(): number | undefined {
  const slot = Number(process.env[WORKER_ENV]);
  return cluster.isWorker && Number.isInteger(slot) && slot > 0 ? slot : undefined;
}

/**
 * One worker: a whole gateway (its own cache, store connections and change
 * subscription) on listeners the supervisor shares among the workers.
 * Resolves with the exit status once it drained or failed to start.
 */
export async function runWorker(file: string, slot: number): Promise<number> {
  const link = new WorkerLink(slot);
  // Reloads arrive from the supervisor, checked once for all; a SIGHUP sent to the whole process group must not end a worker.
  process.on('SIGHUP', () => undefined);
  let code = 1;
  try {
    const config = parseConfig(await link.config(), file);
    const log = createLogger(config.log.level).child({ worker: slot });
    startupGc(log);
    const gateway = await Gateway.start(config, { logger: log, workers: link });
    link.reloads((text) => (text === null ? gateway.reloadCertificates() : reloadLogged(gateway, log, () => parseConfig(text, file))));
    link.ready(gateway.boundListeners());
    code = await servedUntilSignal(gateway, log);
  } catch (err) {
    // The supervisor reports it, once for all workers.
    await link.failed(err instanceof Error ? err.message : String(err));
  }
  // The channel to the supervisor would keep the process alive; disconnecting also tells it this exit was meant.
  cluster.worker?.disconnect();
  return code;
}
