import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http2';
import { upstreamHeaders, type ForwardContext } from '../http/forward-headers';
import { neverIndexRequestId } from '../http/request-id';

/** Connection-specific fields: meaningless across the gateway, and refused by node:http2 when sent. */
const CONNECTION_SPECIFIC = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'http2-settings', 'te', 'host']);

/**
 * The upstream call's headers: the client's metadata with the same
 * stripping and `x-forwarded-*` / `x-request-id` / `x-gatehouse-token-id`
 * rules as HTTP, plus the pseudo-headers and `te: trailers` gRPC needs.
 * `:authority` and `:scheme` are left to the upstream session (its own origin).
 * A raw [name, value, …] list: node:http2 sends one as it is, where an object
 * is copied and walked again, and a repeated name goes out as repeated fields either way.
 */
export function grpcRequestHeaders(incoming: IncomingHttpHeaders, ctx: ForwardContext): string[] {
  const raw = upstreamHeaders(incoming, undefined, ctx);
  raw.unshift(':method', incoming[':method'] ?? 'POST', ':path', incoming[':path'] ?? '/', 'te', 'trailers');
  return neverIndexRequestId(raw);
}

/**
 * Response headers or trailers from the upstream, ready to send to the
 * client: pseudo-headers other than `:status` and connection-specific
 * fields dropped, everything else (gRPC metadata included) kept.
 */
export function grpcResponseHeaders(headers: IncomingHttpHeaders, requestId?: string): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const name of Object.keys(headers)) {
    if (CONNECTION_SPECIFIC.has(name) || (name.charCodeAt(0) === 0x3a /* : */ && name !== ':status')) continue;
    out[name] = headers[name];
  }
  if (requestId === undefined) return out;
  out['x-request-id'] = requestId;
  return neverIndexRequestId(out);
}

/** The numeric `grpc-status` of a HEADERS frame, if it carries one. */
export function grpcStatusOf(headers: IncomingHttpHeaders | undefined): number | undefined {
  const value = headers?.['grpc-status'];
  if (typeof value !== 'string') return undefined;
  const status = Number(value);
  return Number.isInteger(status) ? status : undefined;
}
