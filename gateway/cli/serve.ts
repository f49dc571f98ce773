import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { ConfigError } from '../config/env';
import { loadConfig } from '../config/load';
import { checkTlsFiles } from '../config/tls-files';
import { Gateway } from '../gateway';
import { createLogger } from '../log';
import { parse } from './args';
import { gcOnMainThreadIfOneCpu, usableCpus } from './single-cpu-gc';

export const SERVE_HELP = `Usage: gatehouse serve [--config FILE]

Runs the gateway. SIGHUP reloads the config; SIGTERM drains and exits.

  --config FILE   the config file (default config/gatehouse.yaml)
`;

const DEFAULT_CONFIG = 'config/gatehouse.yaml';

/** Runs until SIGTERM/SIGINT; resolves with the exit status. */
export async function serve(argv: string[]): Promise<number> {
  const { values } = parse(argv, { config: { type: 'string', short: 'c' } });
  if (values.help) {
    process.stdout.write(SERVE_HELP);
    return 0;
  }
  const file = values.config ?? DEFAULT_CONFIG;
  if (!existsSync(file)) {
    const which = values.config === undefined ? `the default ${DEFAULT_CONFIG}, relative to the current folder ${process.cwd()}` : `--config ${file}`;
    process.stderr.write(`gatehouse: no config file at ${resolve(file)} (${which}).\n`
      + 'Run gatehouse serve in the folder that holds config/ (a Gatehouse checkout), or name the config file with --config FILE.\n');
    return 1;
  }
  // Listening for SIGHUP from the start: its default action ends the process, and a reload sent while the
  // gateway starts (a config manager reacting to its own edit) waits for the start instead.
  let gateway: Gateway | undefined;
  let reloadWanted = false;
  const reload = (running: Gateway): void => {
    running.reload().then(
      (next) => log.info({ deployments: next.deployments.length }, 'config reloaded'),
      (err: unknown) => log.error({ err: err instanceof ConfigError ? err.message : err }, 'config reload refused; keeping the running config'),
    );
  };
  process.on('SIGHUP', () => {
    if (gateway) reload(gateway);
    else reloadWanted = true;
  });
  let config;
  try {
    config = loadConfig(file);
    checkTlsFiles(config);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`gatehouse: invalid config ${file}: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
  const log = createLogger(config.log.level);
  const cpus = usableCpus();
  if (gcOnMainThreadIfOneCpu(cpus)) log.info({ cpus }, 'one CPU: garbage collection stays on the main thread');
  let fatal = (): void => {};
  let running: Gateway;
  try {
    running = await Gateway.start(config, { logger: log, onFatal: () => fatal() });
  } catch (err) {
    // The pepper check: the store was made with another pepper.
    if (err instanceof ConfigError) {
      log.flush();
      process.stderr.write(`gatehouse: invalid config ${file}: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
  gateway = running;
  if (reloadWanted) reload(running);
  return new Promise((done) => {
    let stopping = false;
    const stop = (reason: string, status: number): void => {
      if (stopping) return;
      stopping = true;
      log.info({ reason, inflight: running.runtime.inflight }, 'draining');
      running.stop().then((clean) => {
        log.info({ clean }, 'stopped');
        log.flush();
        done(status);
      }, () => done(1));
    };
    fatal = () => stop('fatal', 1);
    process.once('SIGTERM', () => stop('SIGTERM', 0));
    process.once('SIGINT', () => stop('SIGINT', 0));
  });
}
