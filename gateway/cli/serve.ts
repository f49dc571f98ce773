import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { ConfigError } from '../config/env';
import { parseConfig, readConfigFile } from '../config/load';
import type { GatehouseConfig } from '../config/schema';
import { checkTlsFiles } from '../config/tls-files';
import { readWorkers } from '../config/validate';
import { Gateway } from '../gateway';
import { createLogger } from '../log';
import { Supervisor } from '../workers/supervisor';
import { runWorker, workerSlot } from '../workers/worker';
import { workerCount } from '../workers/worker-count';
import { parse } from './args';
import { reloadLogged, servedUntilSignal, startupGc } from './serve-lifecycle';

export const SERVE_HELP = `Usage: gatehouse serve [--config FILE] [--workers N|auto]

Runs the gateway. SIGHUP reloads the config; SIGTERM drains and exits.

  --config FILE       the config file (default config/gatehouse.yaml)
  --workers N|auto    processes serving the listeners (1 to 64, or auto: one per
                      usable CPU); overrides the config's workers
`;

const DEFAULT_CONFIG = 'config/gatehouse.yaml';

/** Runs until SIGTERM/SIGINT; resolves with the exit status. */
export async function serve(argv: string[]): Promise<number> {
  const { values } = parse(argv, { config: { type: 'string', short: 'c' }, workers: { type: 'string', short: 'w' } });
  if (values.help) {
    process.stdout.write(SERVE_HELP);
    return 0;
  }
  const file = values.config ?? DEFAULT_CONFIG;
  const slot = workerSlot();
  if (slot !== undefined) return runWorker(file, slot);
  if (!existsSync(file)) {
    const which = values.config === undefined ? `the default ${DEFAULT_CONFIG}, relative to the current folder ${process.cwd()}` : `--config ${file}`;
    process.stderr.write(`gatehouse: no config file at ${resolve(file)} (${which}).\n`
      + 'Run gatehouse serve in the folder that holds config/ (a Gatehouse checkout), or name the config file with --config FILE.\n');
    return 1;
  }
  // Listening for SIGHUP from the start: its default action ends the process, and a reload sent while the
  // gateway starts (a config manager reacting to its own edit) waits for the start instead.
  let reload: (() => void) | undefined;
  let reloadWanted = false;
  process.on('SIGHUP', () => {
    if (reload) reload();
    else reloadWanted = true;
  });
  let text: string;
  let config: GatehouseConfig;
  let workers: number;
  try {
    text = readConfigFile(file);
    config = parseConfig(text, file);
    checkTlsFiles(config);
    workers = workerCount(values.workers === undefined ? config.workers : readWorkers(values.workers, '--workers'));
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(err.path === '--workers' ? `gatehouse: ${err.message}\n` : `gatehouse: invalid config ${file}: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
  const started = (run: () => void): void => {
    reload = run;
    if (reloadWanted) run();
  };
  // One worker is one process, as before workers existed: no supervisor in between.
  if (workers === 1) return serveAlone(config, started);
  return supervise(new Supervisor(file, text, workers, config.shutdown.grace, createLogger(config.log.level).child({ worker: 0 })), started);
}

async function serveAlone(config: GatehouseConfig, started: (reload: () => void) => void): Promise<number> {
  const log = createLogger(config.log.level).child({ worker: 1 });
  startupGc(log);
  const gateway = await Gateway.start(config, { logger: log });
  started(() => reloadLogged(gateway, log));
  return servedUntilSignal(gateway, log);
}

async function supervise(supervisor: Supervisor, started: (reload: () => void) => void): Promise<number> {
  const { log } = supervisor;
  let stopping: Promise<number> | undefined;
  const stop = (signal: string): Promise<number> => (stopping ??= supervisor.stop(signal));
  const signalled = new Promise<number>((resolve) => {
    process.once('SIGTERM', () => resolve(stop('SIGTERM')));
    process.once('SIGINT', () => resolve(stop('SIGINT')));
  });
  try {
    const listeners = await supervisor.start();
    log.info({ workers: supervisor.workers, listeners }, 'gatehouse started');
  } catch (err) {
    if (stopping) return stopping;
    process.stderr.write(`gatehouse: ${(err as Error).message}\n`);
    log.flush();
    return 1;
  }
  started(() => supervisor.reload());
  const code = await signalled;
  log.flush();
  return code;
}
