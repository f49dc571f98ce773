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
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new CommandError(`${contextsPath(env)} is not valid JSON; fix it or delete it and log in again`);
  }
  // A hand-edited file must not reach the API client as `undefined` endpoints, nor current-context print half a context.
  const file = parsed as Partial<Record<keyof ContextsFile, unknown>> | null;
  const contexts = typeof file === 'object' && file !== null && !Array.isArray(file) ? file.contexts ?? [] : undefined;
  if (!Array.isArray(contexts) || !contexts.every(isContext) || (file?.current != null && typeof file.current !== 'string')) {
    throw new CommandError(`${contextsPath(env)} is not a Gatehouse contexts file; fix it or delete it and log in again`);
  }
  return { current: (file?.current as string | null | undefined) ?? null, contexts };
}

function isContext(value: unknown): value is Context {
  const c = value as Partial<Record<keyof Context, unknown>> | null;
  return typeof c === 'object' && c !== null && typeof c.name === 'string' && typeof c.endpoint === 'string' && typeof c.api_token === 'string';
}

/**
 * Saves a context (replacing one of the same name) and makes it current.
 */
export function saveContext(context: Context, env: NodeJS.ProcessEnv = process.env): void {
  const file = read(env);
  file.contexts = [...file.contexts.filter((c) => c.name !== context.name), context];
  file.current = context.name;
  write(file, env);
}

/** The saved contexts and the current one's name. */
export function listContexts(env: NodeJS.ProcessEnv = process.env): { current: string | null; contexts: readonly Context[] } {
  return read(env);
}

/** Makes a saved context current; an unknown name changes nothing and throws. */
export function useContext(name: string, env: NodeJS.ProcessEnv = process.env): Context {
  const file = read(env);
  const context = file.contexts.find((c) => c.name === name);
  if (context === undefined) throw new CommandError(unknownContext(name, file, env));
  if (file.current !== name) write({ ...file, current: name }, env);
  return context;
}

/** A saved context by name (`--context NAME`), else the current one; null when nobody logged in. */
export function contextNamed(name: string | undefined, env: NodeJS.ProcessEnv = process.env): Context | null {
  if (name === undefined) return currentContext(env);
  const file = read(env);
  const context = file.contexts.find((c) => c.name === name);
  if (context === undefined) throw new CommandError(unknownContext(name, file, env));
  return context;
}

function unknownContext(name: string, file: ContextsFile, env: NodeJS.ProcessEnv): string {
  const names = file.contexts.map((c) => `"${c.name}"`).join(', ');
  return `no context named "${name}" in ${contextsPath(env)} (${names ? `saved: ${names}` : 'none saved'}); `
    + `"gatehouse login --api-token TOKEN --endpoint URL --context ${name}" saves one`;
}

/**
 * The file holds API tokens: it is written whole to a temporary file with
 * mode 0600 in a 0700 folder, then renamed into place.
 */
function write(file: ContextsFile, env: NodeJS.ProcessEnv): void {
  mkdirSync(gatehouseHome(env), { recursive: true, mode: 0o700 });
  const path = contextsPath(env);
  const temp = `${path}.${process.pid}.tmp`;
  // 'wx': in a folder others can write to, a file or link planted at the temporary name must not receive the tokens.
  writeFileSync(temp, JSON.stringify(file, null, 2) + '\n', { mode: 0o600, flag: 'wx' });
  chmodSync(temp, 0o600);
  renameSync(temp, path);
}

/** The current context, or null when nobody logged in. */
export function currentContext(env: NodeJS.ProcessEnv = process.env): Context | null {
  const file = read(env);
  return file.contexts.find((c) => c.name === file.current) ?? null;
}
