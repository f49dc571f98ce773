import { execFileSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { hostOf, type TestGateway } from '../helpers/gateway';
import { get, type Reply } from '../helpers/http';

const ROOT = resolve(__dirname, '..', '..');

/**
 * Builds the console from the current sources, as `npm run build:console`
 * does, into `outDir` (default dist/console, where the gateway serves it from).
 */
export function buildConsole(outDir = join(ROOT, 'dist', 'console')): void {
  execFileSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(ROOT, 'tsconfig.console.json'), '--outDir', outDir], { stdio: 'inherit' });
  copyConsoleAssets(outDir);
}

/** Only the static part of a build (HTML, CSS, icon): no compile. */
export function copyConsoleAssets(outDir: string): void {
  execFileSync(process.execPath, [join(ROOT, 'scripts', 'copy-console-assets.js'), outDir], { stdio: 'inherit' });
}

/** Calls the admin API as `secret`. */
export function api(gw: TestGateway, secret: string, method: string, path: string, body?: unknown): Promise<Reply> {
  const headers: Record<string, string> = { authorization: `Bearer ${secret}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  return get(gw.admin + path, headers, { method, body: body === undefined ? undefined : JSON.stringify(body) });
}

/** Calls a Deployment on the external listener. */
export function callDeployment(gw: TestGateway, name: string, secret?: string): Promise<Reply> {
  return get(`${gw.external}/v1/run`, { host: hostOf(name), ...(secret ? { authorization: `Bearer ${secret}` } : {}) });
}

/** Polls until the external listener answers `status`; resolves with how long it took (ms), or -1 past `limitMs`. */
export async function externalStatusWithin(gw: TestGateway, name: string, status: number, limitMs: number, secret?: string): Promise<number> {
  const started = Date.now();
  while (Date.now() - started <= limitMs) {
    if ((await callDeployment(gw, name, secret)).status === status) return Date.now() - started;
    await new Promise((r) => setTimeout(r, 50));
  }
  return -1;
}
