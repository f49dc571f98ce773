import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

const ROOT = resolve(__dirname, '..', '..');
const BIN = join(ROOT, 'bin', 'gatehouse.js');
const COMPILED = join(ROOT, 'dist', 'gateway', 'cli', 'main.js');

function newestSource(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    const mtime = entry.isDirectory() ? newestSource(path) : entry.name.endsWith('.ts') ? statSync(path).mtimeMs : 0;
    if (mtime > newest) newest = mtime;
  }
  return newest;
}

let cached: boolean | undefined;

/** True when dist/ was built after the last change to gateway/ (npm test builds first). */
function compiledIsFresh(): boolean {
  cached ??= existsSync(COMPILED) && statSync(COMPILED).mtimeMs >= newestSource(join(ROOT, 'gateway'));
  return cached;
}

/**
 * How to run `gatehouse …` in a child process: the compiled CLI when it is
 * up to date (a child then starts in a fraction of a second), else the
 * TypeScript fixture under the test's own loader (about 3 s of CPU each).
 */
export function cliEntry(fixture: string): { modulePath: string; execArgv: string[] | undefined; prefixArgs: string[] } {
  if (compiledIsFresh()) return { modulePath: BIN, execArgv: [], prefixArgs: fixture === 'serve.ts' ? ['serve'] : [] };
  return { modulePath: join(ROOT, 'test', 'fixtures', fixture), execArgv: undefined, prefixArgs: [] };
}
