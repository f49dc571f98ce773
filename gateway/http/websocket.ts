import { STATUS_CODES, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import httpProxy from 'http-proxy';
import { Allowed, whenDecided, type Decision } from '../auth/decide';
import { GatehouseError, REFUSALS } from '../errors';
import type { RequestLogLine } from '../log';
import type { Runtime } from '../runtime';
import { clientAddress } from './client-address';
import { forwardContext, upstreamHeaders } from './forward-headers';
import { addRateLimitFields, refusalResponse } from './refusal';
import { releaseOnClose } from '../limits/release-on-close';
import type { RateLimitFields } from '../limits/ratelimit-fields';
import { requestIdFrom } from './request-id';
import { upstreamError } from './upstream-errors';

/**
 * WebSocket upgrades: the same decision as any request, then http-proxy's
 * ws path (its mature part). Plain HTTP never goes through http-proxy.
 */
export function upgradeHandler(runtime: Runtime, listener: 'external' | 'internal') {
  const proxy = httpProxy.createProxyServer({ ws: true, xfwd: false, changeOrigin: true });
  /** Per request: its handshake deadline (http-proxy has none of its own for ws) and its log line. */
  const handshakes = new WeakMap<IncomingMessage, { readonly ms: number; readonly line: RequestLogLine; readonly rateLimit: RateLimitFields | undefined }>();
  proxy.on('proxyReqWs', (proxyReq, req) => {
    const handshake = handshakes.get(req);
    if (handshake !== undefined) proxyReq.setTimeout(handshake.ms, () => proxyReq.destroy(HANDSHAKE_TIMEOUT));
    // The client gets the request id in the answer as for any request (SPEC §3); http-proxy writes
    // the upstream's headers as they are, from listeners added after this one.
    const requestId = req.headers['x-request-id'];
    const stamp = (res: IncomingMessage): void => {
      if (typeof requestId === 'string') res.headers['x-request-id'] = requestId;
      if (handshake?.rateLimit !== undefined) addRateLimitFields(res.headers, handshake.rateLimit);
    };
    // An upstream declining the upgrade has its answer relayed as it is: the log says which.
    proxyReq.once('response', (res: IncomingMessage) => {
      stamp(res);
      if (handshake !== undefined) handshake.line.status = res.statusCode ?? 0;
    });
    // Once upgraded, a WebSocket lives as long as its peers keep it.
    proxyReq.once('upgrade', (res: IncomingMessage) => {
      stamp(res);
      if (handshake !== undefined) handshake.line.status = 101;
      proxyReq.setTimeout(0);
    });
  });
  // Errors go to each call's callback; this listener only keeps an unforeseen one from killing the process.
  proxy.on('error', (err) => runtime.log.warn({ err }, 'websocket proxy error'));

  return function onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const startedAt = performance.now();
    const requestId = requestIdFrom(req.headers['x-request-id']);
    const route = runtime.routes.lookup(req.headers.host);
    const line: RequestLogLine = {
      request_id: requestId, listener, protocol: 'websocket', method: req.method ?? 'GET', path: req.url ?? '/',
      deployment: route?.name, reason: 'pending', status: 0, duration_ms: 0, token_id: undefined, client: req.socket.remoteAddress ?? '',
    };
    socket.on('error', () => socket.destroy());
    // A WebSocket opened now would hold the drain until the grace period ends.
    if (runtime.draining) {
      line.status = writeRefusal(socket, REFUSALS.shuttingDown, requestId, runtime);
      line.reason = REFUSALS.shuttingDown.code;
      return runtime.record(line, startedAt);
    }
    // The listener hands over WebSocket handshakes only; other upgrade offers are served as plain requests.
    const decision = runtime.decider.decide({ listener, route, protocol: 'http', authorization: req.headers.authorization,
      clientAddress: clientAddress(line.client, req.headers['x-forwarded-for'], runtime.isTrustedProxy) });
    const go = (d: Decision): void => {
      if (!(d instanceof Allowed)) {
        line.status = writeRefusal(socket, d, requestId, runtime);
        line.reason = d.code;
        line.token_id = d.tokenId;
        return runtime.record(line, startedAt);
      }
      // An open WebSocket holds one concurrency slot until its socket closes.
      releaseOnClose(socket, d.limit);
      if (socket.destroyed) {
        line.reason = 'client_aborted';
        return runtime.record(line, startedAt);
      }
      // The Deployment may have been deleted while the decision waited on the store.
      const current = line.deployment === undefined ? undefined : runtime.routes.get(line.deployment);
      if (current === undefined) return go(REFUSALS.notFound);
      line.reason = d.reason;
      line.token_id = d.token?.id;
      rewriteHeaders(req, runtime, line, current.spec.forwardAuthorization);
      const index = current.upstreams.pick();
      handshakes.set(req, { ms: current.timeouts.connect + current.timeouts.response, line, rateLimit: d.limit?.fields });
      // What the client was sent before the proxy began: more means the 101 went out.
      const sentBefore = (socket as Socket).bytesWritten ?? 0;
      const readBefore = (socket as Socket).bytesRead ?? 0;
      // An open WebSocket is in flight: a drain waits for it (up to the grace period).
      runtime.inflight++;
      socket.once('close', () => {
        runtime.inflight--;
        // Still no status: the client left before the upstream answered its handshake.
        if (line.status === 0) line.reason = 'client_aborted';
        // Frames both ways, with the upstream's handshake answer.
        line.bytes_in = ((socket as Socket).bytesRead ?? 0) - readBefore;
        line.bytes_out = ((socket as Socket).bytesWritten ?? 0) - sentBefore;
        runtime.record(line, startedAt);
      });
      proxy.ws(req, socket as Socket, head, { target: current.upstreams.origins[index] }, (err) => {
        if (((socket as Socket).bytesWritten ?? 0) > sentBefore) {
          line.reason = 'upstream_aborted';
          return;
        }
        const refusal = err === HANDSHAKE_TIMEOUT ? new GatehouseError('upstream_timeout', { cause: err }) : upstreamError(err);
        line.reason = refusal.code;
        line.status = writeRefusal(socket, refusal, requestId, runtime);
      });
    };
    whenDecided(decision, go);
  };
}

const HANDSHAKE_TIMEOUT = Object.assign(new Error('upstream WebSocket handshake timed out'), { code: 'GATEHOUSE_WS_HANDSHAKE_TIMEOUT' });

/** Answers an upgrade request with the JSON refusal and closes; returns the status. */
function writeRefusal(socket: Duplex, err: GatehouseError, requestId: string, runtime: Runtime): number {
  const { status, headers, body } = refusalResponse(err, requestId, runtime.challenges);
  if (!socket.writable) {
    socket.destroy();
    return status;
  }
  let text = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\nconnection: close\r\n`;
  for (const [name, value] of Object.entries(headers)) text += `${name}: ${String(value)}\r\n`;
  socket.end(`${text}\r\n${body}`);
  return status;
}

/** http-proxy forwards `req.headers`; give it the same headers a forwarded request gets. */
function rewriteHeaders(req: IncomingMessage, runtime: Runtime, line: RequestLogLine, keepAuthorization: boolean): void {
  const secure = (req.socket as Partial<TLSSocket>).encrypted === true;
  const flat = upstreamHeaders(req.headers, req.rawHeaders,
    forwardContext(line, runtime.isTrustedProxy(line.client), secure, req.headers.host ?? '', keepAuthorization));
  const upgrade = req.headers.upgrade;
  const headers: Record<string, string> = {};
  for (let i = 0; i < flat.length; i += 2) {
    const name = flat[i].toLowerCase();
    headers[name] = headers[name] === undefined ? flat[i + 1] : `${headers[name]}, ${flat[i + 1]}`;
  }
  // The upgrade handshake itself is hop-by-hop but must reach the upstream.
  headers.connection = 'Upgrade';
  if (upgrade) headers.upgrade = upgrade;
  req.headers = headers;
}
