import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { dirname, extname, join } from 'node:path';
import type { Runtime } from '../../runtime';

/**
 * Everything the console loads comes from this origin; no inline script or
 * style, no plug-ins, no framing. The admin listener sits on a closed
 * network, so nothing may be fetched from elsewhere either.
 */
export const CONSOLE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "font-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': CONSOLE_CSP,
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

interface Asset {
  readonly body: Buffer;
  readonly type: string;
  readonly etag: string;
}

/** The built console (`npm run build` writes it to dist/console) of the checkout this file belongs to. */
export function defaultConsoleDir(): string {
  let dir = __dirname;
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) return join(__dirname, 'dist', 'console');
    dir = parent;
  }
  return join(dir, 'dist', 'console');
}

/**
 * Reads every servable file of the built console into memory. Only these
 * names are ever served, so no request path can reach another file.
 */
function loadAssets(dir: string): Map<string, Asset> | null {
  if (!existsSync(join(dir, 'index.html'))) return null;
  const assets = new Map<string, Asset>();
  for (const name of readdirSync(dir)) {
    const type = TYPES[extname(name)];
    if (type === undefined) continue;
    const body = readFileSync(join(dir, name));
    assets.set(name, { body, type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"` });
  }
  return assets;
}

/**
 * Serves the web console under `/console` on the admin listener: `/console`
 * and `/console/` answer the page, `/console/<file>` its scripts, styles and
 * icon, each with a strict Content-Security-Policy. The files are read once,
 * at the first request after they exist (the console is built by `npm ci`).
 */
export function consoleHandler(runtime: Runtime, dir = defaultConsoleDir()) {
  let assets: Map<string, Asset> | null = null;
  let warned = false;

  return function onConsoleRequest(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '/').split('?', 1)[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      return reply(res, 405, 'text/plain; charset=utf-8', 'method not allowed\n', { allow: 'GET, HEAD' });
    }
    assets ??= loadAssets(dir);
    if (assets === null) {
      if (!warned) runtime.log.warn({ dir }, 'the web console is not built; run npm run build');
      warned = true;
      return reply(res, 503, 'text/plain; charset=utf-8', 'The web console is not built. Run `npm run build` (npm ci does it too).\n');
    }
    const name = path === '/console' || path === '/console/' ? 'index.html' : path.slice('/console/'.length);
    const asset = assets.get(name);
    if (asset === undefined) return reply(res, 404, 'text/plain; charset=utf-8', 'no such console file\n');
    if (req.headers['if-none-match'] === asset.etag) {
      res.writeHead(304, { ...SECURITY_HEADERS, etag: asset.etag, 'cache-control': 'no-cache' });
      return void res.end();
    }
    res.writeHead(200, {
      ...SECURITY_HEADERS,
      'content-type': asset.type,
      'content-length': asset.body.length,
      etag: asset.etag,
      // Revalidate every time: a rebuilt console shows at the next load, the ETag keeps it cheap.
      'cache-control': 'no-cache',
    });
    res.end(req.method === 'HEAD' ? undefined : asset.body);
  };
}

function reply(res: ServerResponse, status: number, type: string, text: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': type, 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store', ...headers });
  res.end(text);
}
