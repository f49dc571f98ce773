import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { parse } from 'yaml';
import { ConfigError } from './env';
import type { GatehouseConfig } from './schema';
import { validateConfig } from './validate';

const NUMBER_TAGS = ['tag:yaml.org,2002:int', 'tag:yaml.org,2002:float'];

/** Reads, expands and validates a config file. Throws ConfigError naming the key path. */
export function loadConfig(file: string, env: NodeJS.ProcessEnv = process.env): GatehouseConfig {
  return parseConfig(readConfigFile(file), file, env);
}

/** The text of a config file; a ConfigError if it cannot be read. */
export function readConfigFile(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    // A relative name is read from the current folder: say which file that was.
    const tried = isAbsolute(file) ? file : `${file} (${resolve(file)})`;
    throw new ConfigError('', `cannot read config file ${tried}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}

/** Validates the text of a config file (read by another process: a worker gets it from its supervisor). */
export function parseConfig(text: string, file: string, env: NodeJS.ProcessEnv = process.env): GatehouseConfig {
  let raw: unknown;
  try {
    // Numbers stay the text written: `pepper: 0123` or a 20-digit pepper read as a number would become another key
    // (123, 12345678901234567000) than the same value from the environment. Counts are parsed from that text.
    raw = parse(text, { prettyErrors: true, customTags: (tags) => tags.filter((tag) => typeof tag === 'string' || !NUMBER_TAGS.includes(tag.tag)) });
  } catch (err) {
    throw new ConfigError('', `${file} is not valid YAML: ${(err as Error).message}`);
  }
  return validateConfig(raw, file, env);
}
