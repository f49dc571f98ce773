import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Runtime } from '../runtime';
import { apiHandler } from './api-router';
import { consoleHandler } from './console/console-handler';
import type { AdminHooks } from './api-types';
import { GatehouseError } from '../errors';
import { requestIdFrom } from '../http/request-id';
import { NO_SNIFF_NO_FRAMING, sendError, sendJson } from './http-io';

/**
 * The admin listener: `/healthz`, `/readyz` and `/metrics` (no token; the
 * admin listener is not public), the admin API under `/v1/`, the console
 * under `/console`. Deployment traffic is never served here.
 */
export function adminHandler(runtime: Runtime, hooks: AdminHooks) {
  const api = apiHandler(runtime, hooks);
  const console = consoleHandler(runtime);
  return function onAdminRequest(req: IncomingMessage, res: ServerResponse): void {
    // A drain waits for these too: a token created as SIGTERM arrives must not lose its only answer, the secret.
    runtime.inflight++;
    res.once('close', () => runtime.inflight--);
    const path = (req.url ?? '/').split('?', 1)[0];
    if (path.startsWith('/v1/')) return api(req, res, path);
    if (path === '/console' || path.startsWith('/console/')) return console(req, res);
    if (path === '/healthz') return sendJson(res, 200, { status: 'ok' });
    if (path === '/readyz') {
      // From the first moment of a drain: a load balancer must stop sending before the listeners close.
      if (runtime.draining) return sendJson(res, 503, { status: 'draining' });
      runtime.store.ping().then(
        () => sendJson(res, 200, { status: 'ready' }),
        () => sendJson(res, 503, { status: 'unavailable', reason: 'the token store does not answer' }),
      );
      return;
    }
    if (path === '/metrics') {
      runtime.metrics.scrape().then((text) => {
        res.writeHead(200, { ...NO_SNIFF_NO_FRAMING, 'content-type': runtime.metrics.registry.contentType });
        res.end(text);
      }, () => sendJson(res, 500, { error: 'internal', message: 'metrics unavailable' }));
      return;
    }
    sendError(res, new GatehouseError('not_found', { message: `no such endpoint ${path}` }), requestIdFrom(req.headers['x-request-id']), runtime.challenges);
  };
}
