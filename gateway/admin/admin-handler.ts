import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Runtime } from '../runtime';

/** The admin listener: health, readiness, metrics, the admin API and the console. */
export function adminHandler(runtime: Runtime) {
  return function onAdminRequest(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '/').split('?', 1)[0];
    if (path === '/healthz') return sendJson(res, 200, { status: 'ok' });
    if (path === '/readyz') {
      runtime.store.ping().then(
        () => sendJson(res, 200, { status: 'ready' }),
        () => sendJson(res, 503, { status: 'unavailable', reason: 'the token store does not answer' }),
      );
      return;
    }
    if (path === '/metrics') {
      runtime.metrics.registry.metrics().then((text) => {
        res.writeHead(200, { 'content-type': runtime.metrics.registry.contentType });
        res.end(text);
      }, () => sendJson(res, 500, { error: 'internal', message: 'metrics unavailable' }));
      return;
    }
    sendJson(res, 404, { error: 'not_found', message: 'no such endpoint' });
  };
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store', ...headers });
  res.end(text);
}
