import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { ConfigError } from '../config/env';
import { loadConfig } from '../config/load';
import { checkTlsFiles } from '../config/tls-files';
import { CommandError, parse, UsageError } from './args';

export const CONFIG_HELP = `Usage: gatehouse config check [--config FILE] [--skip-tls-files]

Validates a config file the way 'gatehouse serve' reads it at start, without
serving: environment references expanded, every key and value checked, the
listeners' certificate and key files read and matched. Exit status 0 when it
is valid; 1 naming the key path of the first problem, or the file that could
not be read. The token store is not contacted.

  --config FILE      the config file (default config/gatehouse.yaml)
  --skip-tls-files   do not read the listeners' certificate and key files
                     (checking a config away from the host that holds them)
`;

/** `gatehouse config check`: what CI pipelines and the manifests test run. */
export async function configCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === '--help' || sub === '-h' || sub === 'help') {
    process.stdout.write(CONFIG_HELP);
    return 0;
  }
  if (sub !== 'check') throw new UsageError(sub === undefined ? 'missing subcommand: config check' : `unknown subcommand "config ${sub}"`);
  const { values } = parse(rest, { config: { type: 'string', short: 'c' }, 'skip-tls-files': { type: 'boolean' } });
  if (values.help) {
    process.stdout.write(CONFIG_HELP);
    return 0;
  }
  const file = resolve(values.config ?? 'config/gatehouse.yaml');
  try {
    const config = loadConfig(file);
    if (!values['skip-tls-files']) checkTlsFiles(config);
    const listeners = Object.values(config.listeners).reduce((n, list) => n + list.length, 0);
    process.stdout.write(`${file} is valid: ${listeners} listeners, ${config.store.driver} store, ${config.deployments.length} Deployments\n`);
    return 0;
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    if (!existsSync(file)) throw new CommandError(`${err.message}; --config FILE names another file`);
    throw new CommandError(`invalid config ${file}: ${err.message}`);
  }
}

/** "gatehouse <semver>", from the package.json of the checkout or image this file belongs to. */
export function printVersion(): number {
  process.stdout.write(`gatehouse ${packageVersion()}\n`);
  return 0;
}

function packageVersion(): string {
  // Sources run from gateway/cli, the build from dist/gateway/cli: the package root is found, not assumed.
  for (let dir = __dirname; ; dir = dirname(dir)) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'gatehouse' && pkg.version) return pkg.version;
    }
    if (dirname(dir) === dir) throw new CommandError('cannot find the gatehouse package.json to read the version from');
  }
}
