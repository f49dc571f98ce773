import { STATUS_CODES, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import httpProxy from 'http-proxy';
import { Allowed, type Decision } from '../auth/decide';
import { GatehouseError, isGatehouseError } from '../errors';
import type { RequestLogLine } from '../log';
import type { Runtime } from '../runtime';
import { upstreamHeaders } from './forward-headers';
import { refusalResponse } from './refusal';
import { requestIdFrom } from './request-id';

/**
 * WebSocket upgrades: the same decision as any request, then http-proxy's
 * ws path (its mature part). Plain HTTP never goes through http-proxy.
 */
export function upgradeHandler(runtime: Runtime, listener: 'external' | 'internal') {
  const proxy = httpProxy.createProxyServer({ ws: true, xfwd: false, changeOrigin: true });
  // Without an error listener an upstream failure would kill the process.
  proxy.on('error', (err, req, target) => {
    const socket = target as Duplex;
    runtime.log.warn({ request_id: req.headers['x-request-id'], err }, 'websocket upstream failed');
    if (socket.writable) socket.end('HTTP/1.1 502 Bad Gateway\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
    else socket.destroy();
  });

  return function onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const startedAt = performance.now();
    const requestId = requestIdFrom(req.headers['x-request-id']);
    const route = runtime.routes.lookup(req.headers.host);
    const line: RequestLogLine = {
      request_id: requestId, listener, protocol: 'websocket', method: req.method ?? 'GET', path: req.url ?? '/',
      deployment: route?.name, reason: 'pending', status: 0, duration_ms: 0, token_id: undefined, client: req.socket.remoteAddress ?? '',
    };
    socket.on('error', () => socket.destroy());
    // The listener hands over WebSocket handshakes only; other upgrade offers are served as plain requests.
    const decision = runtime.decider.decide({ listener, route, protocol: 'http', authorization: req.headers.authorization, clientAddress: line.client });
    const go = (d: Decision): void => {
      if (!(d instanceof Allowed)) {
        const { status, headers, body } = refusalResponse(d, requestId, runtime.challenges);
        let text = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\nconnection: close\r\n`;
        for (const [name, value] of Object.entries(headers)) text += `${name}: ${String(value)}\r\n`;
        socket.end(`${text}\r\n${body}`);
        line.reason = d.code;
        line.status = status;
        return runtime.record(line, startedAt);
      }
      const current = line.deployment === undefined ? undefined : runtime.routes.get(line.deployment);
      if (current === undefined || socket.destroyed) return;
      line.reason = d.reason;
      line.token_id = d.token?.id;
      rewriteHeaders(req, runtime, line, current.spec.forwardAuthorization);
      const index = current.upstreams.pick();
      line.status = 101;
      socket.once('close', () => runtime.record(line, startedAt));
      proxy.ws(req, socket as Socket, head, { target: current.upstreams.origins[index] });
    };
    if (decision instanceof Promise) decision.then(go, (err: unknown) => go(isGatehouseError(err) ? err : new GatehouseError('internal', { cause: err })));
    else go(decision);
  };
}

/** http-proxy forwards `req.headers`; give it the same headers a forwarded request gets. */
function rewriteHeaders(req: IncomingMessage, runtime: Runtime, line: RequestLogLine, keepAuthorization: boolean): void {
  const flat = upstreamHeaders(req.headers, req.rawHeaders, {
    peerAddress: line.client,
    trustedPeer: runtime.isTrustedProxy(line.client),
    proto: (req.socket as Partial<TLSSocket>).encrypted ? 'https' : 'http',
    host: req.headers.host ?? '',
    requestId: line.request_id,
    tokenId: line.token_id,
    keepAuthorization,
  });
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
