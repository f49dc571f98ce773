import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { ConfigError } from './env';
import type { GatehouseConfig } from './schema';
import { validateConfig } from './validate';

/** Reads, expands and validates a config file. Throws ConfigError naming the key path. */
export function loadConfig(file: string, env: NodeJS.ProcessEnv = process.env): GatehouseConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError('', `cannot read config file ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  let raw: unknown;
  try {
    raw = parse(text, { prettyErrors: true });
  } catch (err) {
    throw new ConfigError('', `${file} is not valid YAML: ${(err as Error).message}`);
  }
  return validateConfig(raw, file, env);
}
