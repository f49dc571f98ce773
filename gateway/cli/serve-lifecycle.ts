import { ConfigError } from '../config/env';
import type { GatehouseConfig } from '../config/schema';
import type { Gateway } from '../gateway';
import type { Logger } from '../log';
import { gcOnMainThreadIfOneCpu, usableCpus } from './single-cpu-gc';

// What a serving process, alone or as one of several workers, does on its way up, on a reload and on the way down.

/** Decided in each process, a worker too: the flags apply to the heap of the process that sets them. */
export function startupGc(log: Logger): void {
  const cpus = usableCpus();
  if (gcOnMainThreadIfOneCpu(cpus)) log.info({ cpus }, 'one CPU: garbage collection stays on the main thread');
}

/** Reloads (the file, or `next` when given) and logs the outcome; a bad config is refused and the running one kept. */
export function reloadLogged(gateway: Gateway, log: Logger, next?: () => GatehouseConfig): void {
  let config: GatehouseConfig | undefined;
  try {
    config = next?.();
  } catch (err) {
    log.error({ err: err instanceof ConfigError ? err.message : err }, 'config reload refused; keeping the running config');
    gateway.reloadCertificates();
    return;
  }
  gateway.reload(config).then(
    (applied) => log.info({ deployments: applied.deployments.length }, 'config reloaded'),
    (err: unknown) => log.error({ err: err instanceof ConfigError ? err.message : err }, 'config reload refused; keeping the running config'),
  );
}

/** Serves until SIGTERM or SIGINT (exit 0), or until the gateway fails (exit 1), then drains; resolves with the exit status. */
export function servedUntilSignal(gateway: Gateway, log: Logger): Promise<number> {
  return new Promise((resolve) => {
    let stopping = false;
    const stop = (signal: string, status: number): void => {
      if (stopping) return;
      stopping = true;
      log.info({ signal, inflight: gateway.runtime.inflight }, 'draining');
      gateway.stop().then((clean) => {
        log.info({ clean }, 'stopped');
        log.flush();
        resolve(status);
      }, () => resolve(1));
    };
    process.once('SIGTERM', () => stop('SIGTERM', 0));
    process.once('SIGINT', () => stop('SIGINT', 0));
    void gateway.failed.then(() => stop('failed', 1));
  });
}
