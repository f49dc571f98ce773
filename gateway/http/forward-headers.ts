import type { IncomingHttpHeaders } from 'node:http';
import type { RequestLogLine } from '../log';

/** Headers that belong to one connection and never cross the gateway (RFC 9110 §7.6.1, plus h2/undici specifics). */
const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade',
  'proxy-authorization', 'proxy-authenticate', 'http2-settings',
  // undici refuses `expect`; the gateway answers 100-continue itself.
  'expect',
  // The upstream gets its own Host; the client's travels as X-Forwarded-Host.
  'host',
]);

/** Forwarding headers other than the `x-forwarded-*` family (SPEC §3). */
const FORWARDING = new Set(['forwarded', 'x-real-ip', 'true-client-ip']);

/**
 * The name of a forwarding header (`X-Forwarded-*`, `Forwarded`, `X-Real-IP`,
 * `True-Client-IP`) with `_` and `.` read as `-`, as WSGI/CGI frameworks fold
 * them (`X_Forwarded_For` becomes `HTTP_X_FORWARDED_FOR`); undefined for any
 * other name. `lower` is lower case.
 */
export function forwardingHeader(lower: string): string | undefined {
  const c = lower.charCodeAt(0);
  if (c !== 0x78 /* x */ && c !== 0x66 /* f */ && c !== 0x74 /* t */) return undefined;
  const folded = lower.includes('_') || lower.includes('.') ? lower.replace(/[_.]/g, '-') : lower;
  return folded.startsWith('x-forwarded-') || FORWARDING.has(folded) ? folded : undefined;
}

/** True for names that, with `_` and `.` read as `-`, start with `x-gatehouse-`. */
export function isGatehouseHeader(lower: string): boolean {
  if (lower.length < 12 || lower.charCodeAt(0) !== 0x78 /* x */) return false;
  return lower.slice(0, 12).replace(/[_.]/g, '-') === 'x-gatehouse-';
}

/** What the gateway adds to a forwarded request. */
export interface ForwardContext {
  readonly peerAddress: string;
  readonly trustedPeer: boolean;
  readonly proto: 'http' | 'https';
  readonly host: string;
  readonly requestId: string;
  readonly tokenId: string | undefined;
  readonly keepAuthorization: boolean;
}

/** The forwarding context of an allowed request, from its log line (which carries the decision). */
export function forwardContext(
  line: RequestLogLine, trustedPeer: boolean, secure: boolean, host: string, keepAuthorization: boolean,
): ForwardContext {
  return {
    peerAddress: line.client,
    trustedPeer,
    proto: secure ? 'https' : 'http',
    host,
    requestId: line.request_id,
    tokenId: line.token_id,
    keepAuthorization,
  };
}

/** The Connection values nearly every message carries, parsed once. */
const COMMON_CONNECTION = new Map([
  ['keep-alive', new Set(['keep-alive'])],
  ['close', new Set(['close'])],
]);

/** Names listed in a Connection header are hop-by-hop too. */
function connectionTokens(value: string | string[] | undefined): ReadonlySet<string> | undefined {
  if (value === undefined) return undefined;
  const common = typeof value === 'string' ? COMMON_CONNECTION.get(value) : undefined;
  if (common !== undefined) return common;
  const text = Array.isArray(value) ? value.join(',') : value;
  const tokens = new Set<string>();
  for (const part of text.split(',')) {
    const name = part.trim().toLowerCase();
    if (name) tokens.add(name);
  }
  return tokens;
}

/**
 * Builds the upstream request's headers as a flat [name, value, …] list from
 * the client's (HTTP/1 raw pairs or an HTTP/2 header object), dropping
 * hop-by-hop, pseudo and `x-gatehouse-*` headers (any spelling), forwarding
 * headers from an untrusted peer (any spelling), and setting the forwarding ones.
 */
export function upstreamHeaders(
  incoming: IncomingHttpHeaders,
  rawPairs: readonly string[] | undefined,
  ctx: ForwardContext,
): string[] {
  const out: string[] = [];
  const dropAlso = connectionTokens(incoming.connection);
  let clientXff: string | undefined;
  let clientProto: string | undefined;
  let clientHost: string | undefined;

  const consider = (name: string, value: string): void => {
    const lower = name.toLowerCase();
    if (lower.charCodeAt(0) === 0x3a /* : */ || HOP_BY_HOP.has(lower) || dropAlso?.has(lower) || isGatehouseHeader(lower)) return;
    if (lower === 'authorization' && !ctx.keepAuthorization) return;
    const forwarding = forwardingHeader(lower);
    if (forwarding !== undefined) {
      // Only a trusted proxy's, and only as it is spelled: another spelling would reach a folding framework beside ours.
      if (!ctx.trustedPeer || forwarding !== lower) return;
      if (lower === 'x-forwarded-for') { clientXff = clientXff ? `${clientXff}, ${value}` : value; return; }
      if (lower === 'x-forwarded-proto') { clientProto ??= value; return; }
      if (lower === 'x-forwarded-host') { clientHost ??= value; return; }
    }
    if (lower === 'x-request-id') return;
    out.push(name, value);
  };

  if (rawPairs) {
    for (let i = 0; i < rawPairs.length; i += 2) consider(rawPairs[i], rawPairs[i + 1]);
  } else {
    for (const name of Object.keys(incoming)) {
      const value = incoming[name];
      if (value === undefined) continue;
      if (Array.isArray(value)) for (const v of value) consider(name, v);
      else consider(name, value);
    }
  }

  const peer = ctx.peerAddress.startsWith('::ffff:') ? ctx.peerAddress.slice(7) : ctx.peerAddress;
  out.push(
    'x-forwarded-for', clientXff ? `${clientXff}, ${peer}` : peer,
    'x-forwarded-proto', clientProto ?? ctx.proto,
    'x-forwarded-host', clientHost ?? ctx.host,
    'x-request-id', ctx.requestId,
  );
  if (ctx.tokenId !== undefined) out.push('x-gatehouse-token-id', ctx.tokenId);
  return out;
}

/** True when a header object has any field (undici hands over `{}` for a message without trailers). */
export function hasFields(headers: IncomingHttpHeaders | undefined): headers is IncomingHttpHeaders {
  if (headers === undefined) return false;
  for (const _ in headers) return true;
  return false;
}

/**
 * Response headers (or trailers) from the upstream, minus hop-by-hop ones.
 * `Trailer`, which announces trailers, is kept: the sink decides whether its
 * client can be sent them. Copies rather than deleting from undici's object:
 * a `delete` turns it into a slow dictionary that every later read (Node's
 * writeHead) pays for.
 */
export function downstreamHeaders(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  const dropAlso = connectionTokens(headers.connection);
  const out: IncomingHttpHeaders = {};
  for (const name in headers) {
    if ((HOP_BY_HOP.has(name) && name !== 'host' && name !== 'trailer') || dropAlso?.has(name)) continue;
    out[name] = headers[name];
  }
  return out;
}
