import type { IncomingMessage, ServerResponse } from 'node:http';
import { GatehouseError, isGatehouseError } from '../errors';
import { clientAddress } from '../http/client-address';
import { requestIdFrom } from '../http/request-id';
import type { Runtime } from '../runtime';
import { StoreUnavailableError, type TokenRecord } from '../store/types';
import { auditRoutes } from './api-audit';
import { authenticate } from './api-auth';
import { deploymentRoutes } from './api-deployments';
import { rotateRoutes } from './api-rotate';
import { tokenRoutes } from './api-tokens';
import { usageRoutes } from './api-usage';
import { recordAudit } from './audit-trail';
import type { AdminHooks, ApiHandler, ApiRoutes } from './api-types';
import { NO_SNIFF_NO_FRAMING, readJson, sendError, sendJson } from './http-io';

interface CompiledRoute {
  readonly pattern: string;
  readonly segments: readonly string[];
  readonly methods: Partial<Record<string, ApiHandler>>;
  readonly allow: string;
}

/** Every API route, in one list. */
const ROUTES: readonly ApiRoutes[] = [tokenRoutes, rotateRoutes, usageRoutes, deploymentRoutes, auditRoutes];

function compile(tables: readonly ApiRoutes[]): CompiledRoute[] {
  return tables.flatMap((table) => Object.entries(table).map(([pattern, methods]) => {
    // HTTP requires HEAD wherever GET is: the same answer without its body (Node drops the body of a HEAD reply).
    const withHead: Partial<Record<string, ApiHandler>> = methods.GET ? { GET: methods.GET, HEAD: methods.GET, ...methods } : methods;
    return { pattern, segments: pattern.split('/'), methods: withHead, allow: Object.keys(withHead).join(', ') };
  }));
}

function match(routes: readonly CompiledRoute[], path: string): { route: CompiledRoute; params: Record<string, string> } | undefined {
  const parts = path.split('/');
  for (const route of routes) {
    if (route.segments.length !== parts.length) continue;
    const params: Record<string, string> = {};
    const ok = route.segments.every((segment, i) => {
      if (!segment.startsWith('{')) return segment === parts[i];
      if (parts[i] === '') return false;
      try {
        params[segment.slice(1, -1)] = decodeURIComponent(parts[i]);
        return true;
      } catch {
        return false;
      }
    });
    if (ok) return { route, params };
  }
  return undefined;
}

/** Foreign errors become the client's view of them: a store outage is 503, anything else 500. */
function asClientError(err: unknown): GatehouseError {
  if (isGatehouseError(err)) return err;
  if (err instanceof StoreUnavailableError) return new GatehouseError('store_unavailable', { cause: err, retryAfter: 5 });
  return new GatehouseError('internal', { cause: err });
}

/**
 * The admin API (`/v1/...`): route, authenticate a developer token, run the
 * handler, answer JSON. One log line and one metric per call; the log has
 * the caller's token id, never a secret or a body.
 */
export function apiHandler(runtime: Runtime, hooks: AdminHooks) {
  const routes = compile(ROUTES);

  return function onApiRequest(req: IncomingMessage, res: ServerResponse, path: string): void {
    const startedAt = performance.now();
    const requestId = requestIdFrom(req.headers['x-request-id']);
    const method = req.method ?? 'GET';
    const found = match(routes, path);
    let caller: TokenRecord | undefined;

    const finish = (status: number, reason: string): void => {
      const route = found?.route.pattern ?? 'unknown';
      runtime.metrics.adminRequests.inc({ method, route, status: String(status) });
      if (caller !== undefined) runtime.usage.count(caller.id, 'admin', status, 0, 0);
      const line = {
        request_id: requestId, listener: 'admin', method, path, route, reason, status,
        token_id: caller?.id, duration_ms: Math.round((performance.now() - startedAt) * 1e3) / 1e3,
      };
      if (status >= 500) runtime.log.warn(line, 'admin request');
      else runtime.log.info(line, 'admin request');
    };
    const fail = (err: GatehouseError, headers: Record<string, string> = {}): void => {
      if (err.cause !== undefined) runtime.log.error({ request_id: requestId, err: err.cause }, 'admin API failed: %s', err.code);
      sendError(res, err, requestId, runtime.challenges, headers);
      finish(err.httpStatus, err.code);
    };

    if (found === undefined) return fail(new GatehouseError('not_found', { message: `no API endpoint ${path}` }));
    const handler = found.route.methods[method];
    if (handler === undefined) {
      return fail(new GatehouseError('method_not_allowed', { message: `${method} is not allowed on ${found.route.pattern}` }), { allow: found.route.allow });
    }

    authenticate(runtime, req.headers.authorization).then((token) => {
      caller = token;
      hooks.markUsed(token.id, Date.now());
      const origin = {
        tokenId: token.id, user: token.owner, requestId,
        clientAddress: clientAddress(req.socket.remoteAddress ?? '', req.headers['x-forwarded-for'], runtime.isTrustedProxy),
      };
      return handler({
        runtime, hooks, caller: token, hash: runtime.decider.hash, params: found.params,
        query: new URLSearchParams((req.url ?? '').slice(path.length + 1)),
        body: () => readJson(req),
        audit: async (action, target) => {
          await recordAudit(runtime.store, runtime.config.audit.retention, (event, stored, err) => {
            if (stored) runtime.log.info({ audit: event }, 'audit');
            else runtime.log.error({ audit: event, err }, 'audit event not stored');
          }, action, target, origin);
        },
      });
    }).then((reply) => {
      if (reply.status === 204) {
        res.writeHead(204, { ...NO_SNIFF_NO_FRAMING, 'x-request-id': requestId, 'cache-control': 'no-store' });
        res.end();
      } else {
        sendJson(res, reply.status, reply.body, { 'x-request-id': requestId });
      }
      finish(reply.status, 'ok');
    }, (err: unknown) => fail(asClientError(err)));
  };
}
