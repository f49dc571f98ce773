import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { CommandError } from './args';

/** A logged-in admin API: what `current-context` prints. */
export interface Context {
  readonly name: string;
  /** The admin listener's base URL, e.g. `http://127.0.0.1:9090`. */
  readonly endpoint: string;
  readonly api_token: string;
}

interface ContextsFile {
  current: string | null;
  contexts: Context[];
}

const FILE_NAME = 'contexts.json';

/** `$GATEHOUSE_HOME`, else `~/.gatehouse`. */
export function gatehouseHome(env: NodeJS.ProcessEnv = process.env): string {
  return env.GATEHOUSE_HOME || join(homedir(), '.gatehouse');
}

export function contextsPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(gatehouseHome(env), FILE_NAME);
}

function read(env: NodeJS.ProcessEnv): ContextsFile {
  let text: string;
  try {
    text = readFileSync(contextsPath(env), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { current: null, contexts: [] };
    throw new CommandError(`cannot read ${contextsPath(env)}: ${(err as Error).message}`);
  }
  try {
    const parsed = JSON.parse(text) as Partial<ContextsFile>;
    return { current: parsed.current ?? null, contexts: Array.isArray(parsed.contexts) ? parsed.contexts : [] };
  } catch {
    throw new CommandError(`${contextsPath(env)} is not valid JSON; fix it or delete it and log in again`);
  }
}

/**
 * Saves a context (replacing one of the same name) and makes it current.
 * The file holds API tokens: it is written whole to a temporary file with
 * mode 0600 in a 0700 folder, then renamed into place.
 */
export function saveContext(context: Context, env: NodeJS.ProcessEnv = process.env): void {
  const home = gatehouseHome(env);
  mkdirSync(home, { recursive: true, mode: 0o700 });
  const file = read(env);
  file.contexts = [...file.contexts.filter((c) => c.name !== context.name), context];
  file.current = context.name;
  const path = contextsPath(env);
  const temp = `${path}.${process.pid}.tmp`;
  writeFileSync(temp, JSON.stringify(file, null, 2) + '\n', { mode: 0o600 });
  chmodSync(temp, 0o600);
  renameSync(temp, path);
}

/** The current context, or null when nobody logged in. */
export function currentContext(env: NodeJS.ProcessEnv = process.env): Context | null {
  const file = read(env);
  return file.contexts.find((c) => c.name === file.current) ?? null;
}
