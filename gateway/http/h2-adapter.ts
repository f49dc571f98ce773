import type { IncomingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import { Allowed, whenDecided, type Decision } from '../auth/decide';
import { GatehouseError, REFUSALS } from '../errors';
import type { RequestLogLine } from '../log';
import type { Runtime } from '../runtime';
import { cancelStalledStream } from './body-stall';
import { clientAddress } from './client-address';
import { CountedBody } from './counted-body';
import { forward, type ResponseSink } from './forward';
import { downstreamHeaders, forwardContext, upstreamHeaders } from './forward-headers';
import { addRateLimitFields, refusalResponse } from './refusal';
import { releaseOnClose } from '../limits/release-on-close';
import type { RateLimitFields } from '../limits/ratelimit-fields';
import { neverIndexRequestId, requestIdFrom } from './request-id';

type DataListener = 'external' | 'internal';
export type StreamHandler = (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => void;

/** True when an HTTP/2 request is a gRPC call (any `application/grpc…` content type). */
export function isGrpc(headers: IncomingHttpHeaders): boolean {
  const type = headers['content-type'];
  return type !== undefined && type.startsWith('application/grpc');
}

/**
 * The HTTP/2 face of the pipeline for plain HTTP requests (gRPC calls go to
 * the gRPC adapter): route → decide → forward to the HTTP/1.1 upstream.
 */
export function h2HttpHandler(runtime: Runtime, listener: DataListener, secure: boolean): StreamHandler {
  return function onStream(stream, headers) {
    // A client resetting its stream with an error code makes Node emit 'error'; unheard, it would end the process.
    // The exchange learns of it through 'close' (ResponseSink.onClientGone).
    stream.on('error', ignore);
    const startedAt = performance.now();
    const requestId = requestIdFrom(headers['x-request-id']);
    const authority = headers[':authority'] ?? headers.host;
    const route = runtime.routes.lookup(authority);
    const line: RequestLogLine = {
      request_id: requestId, listener, protocol: 'http', method: headers[':method'] ?? 'GET', path: headers[':path'] ?? '/',
      deployment: route?.name, reason: 'pending', status: 0, duration_ms: 0, token_id: undefined,
      client: stream.session?.socket?.remoteAddress ?? '',
    };
    const sink = new H2Sink(stream, requestId, runtime);
    cancelStalledStream(stream, route?.timeouts.idle ?? runtime.config.timeouts.idle);
    if (runtime.draining) {
      sink.refuse(REFUSALS.shuttingDown);
      return done(runtime, line, sink.status, 'shutting_down', startedAt);
    }
    const decision = runtime.decider.decide({
      listener, route, protocol: 'http', authorization: headers.authorization,
      clientAddress: clientAddress(line.client, headers['x-forwarded-for'], runtime.isTrustedProxy),
      connection: stream.session,
    });
    const go = (d: Decision): void => proceed(runtime, stream, headers, sink, line, d, startedAt, secure, authority ?? '');
    whenDecided(decision, go);
  };
}

function proceed(
  runtime: Runtime, stream: ServerHttp2Stream, headers: IncomingHttpHeaders, sink: H2Sink,
  line: RequestLogLine, decision: Decision, startedAt: number, secure: boolean, authority: string,
): void {
  if (!(decision instanceof Allowed)) {
    line.token_id = decision.tokenId;
    sink.refuse(decision);
    if (decision.cause !== undefined) runtime.log.error({ request_id: line.request_id, err: decision.cause }, 'refused: %s', decision.code);
    return done(runtime, line, sink.status, decision.code, startedAt);
  }
  releaseOnClose(stream, decision.limit);
  sink.rateLimit = decision.limit?.fields;
  if (stream.destroyed) return done(runtime, line, 0, 'client_aborted', startedAt);
  // The Deployment may have been deleted while the decision waited on the store.
  const route = runtime.routes.get(line.deployment as string);
  if (route === undefined) return proceed(runtime, stream, headers, sink, line, REFUSALS.notFound, startedAt, secure, authority);
  if (line.path.charCodeAt(0) !== 0x2f /* / */) return proceed(runtime, stream, headers, sink, line, REFUSALS.notAPath, startedAt, secure, authority);
  line.reason = decision.reason;
  line.token_id = decision.token?.id;
  const forwardHeaders = upstreamHeaders(headers, undefined,
    forwardContext(line, runtime.isTrustedProxy(line.client), secure, authority, route.spec.forwardAuthorization));
  // Node's HTTP/1.1 server answers it; on an HTTP/2 stream nothing does, and a client waiting for it stalls.
  // Only now, once allowed: a refused client need not send its body.
  if (headers.expect !== undefined && !stream.endAfterHeaders && headers.expect.toLowerCase() === '100-continue') {
    stream.additionalHeaders({ ':status': 100 });
  }
  runtime.inflight++;
  const body = bodyOf(stream);
  forward({
    method: line.method,
    path: line.path,
    headers: forwardHeaders,
    body,
    upstreams: route.upstreams,
    sink,
    done: (status, outcome, bytesOut) => {
      runtime.inflight--;
      line.bytes_in = body === null ? 0 : body.bytes;
      line.bytes_out = bytesOut;
      done(runtime, line, status, outcome === 'ok' ? line.reason : outcome, startedAt);
    },
  });
}

function done(runtime: Runtime, line: RequestLogLine, status: number, reason: string, startedAt: number): void {
  line.reason = reason;
  line.status = status;
  runtime.record(line, startedAt);
}

/**
 * Never hand the Http2Stream itself to undici: it destroys its body when
 * done, which would kill the response on the same stream.
 */
function bodyOf(stream: ServerHttp2Stream): CountedBody | null {
  if (stream.endAfterHeaders) return null;
  const body = new CountedBody({ highWaterMark: 64 * 1024 });
  stream.pipe(body);
  return body;
}

/** Destroying a stream with an error resets it with INTERNAL_ERROR. */
const UPSTREAM_CUT = Object.assign(new Error('upstream response cut short'), { code: 'GATEHOUSE_UPSTREAM_CUT' });

function ignore(): void {}

/** Fields node:http2 refuses to send more than once (its kSingleValueHeaders, pseudo-headers aside). */
const SINGLE_VALUE = new Set([
  'access-control-allow-credentials', 'access-control-max-age', 'access-control-request-method', 'age', 'authorization',
  'content-encoding', 'content-language', 'content-length', 'content-location', 'content-md5', 'content-range',
  'content-type', 'date', 'dnt', 'etag', 'expires', 'from', 'host', 'if-match', 'if-modified-since', 'if-none-match',
  'if-range', 'if-unmodified-since', 'last-modified', 'location', 'max-forwards', 'proxy-authorization', 'range',
  'referer', 'retry-after', 'tk', 'upgrade-insecure-requests', 'user-agent', 'x-content-type-options',
]);

/** Bytes of response a stream may hold before the upstream read is paused (bounded memory per stream). */
const OUT_HIGH_WATER = 256 * 1024;

export class H2Sink implements ResponseSink {
  status = 0;
  /** An allowed request under a limit: its answer carries the fields. */
  rateLimit: RateLimitFields | undefined;
  private ended = false;
  private trailersAnnounced = false;
  constructor(private readonly stream: ServerHttp2Stream, private readonly requestId: string, private readonly runtime: Runtime) {}

  get headersSent(): boolean {
    return this.stream.headersSent;
  }

  head(status: number, headers: IncomingHttpHeaders): void {
    this.status = status;
    if (this.stream.destroyed) return;
    const out: Record<string, string | string[] | number> = { ':status': status, 'x-request-id': this.requestId };
    for (const name of Object.keys(headers)) {
      const value = headers[name];
      if (value === undefined) continue;
      // An HTTP/1 upstream may repeat one of these (two ETags, two Content-Types); node:http2 throws on it,
      // which turned a served response into a 502. Node's HTTP/1 parser keeps the first; so do we.
      out[name] = Array.isArray(value) && SINGLE_VALUE.has(name) ? value[0] : value;
    }
    if (this.rateLimit !== undefined) addRateLimitFields(out, this.rateLimit);
    // Trailers need the stream held open after the body; an upstream announces them with Trailer.
    this.trailersAnnounced = out.trailer !== undefined;
    this.stream.respond(neverIndexRequestId(out), { waitForTrailers: this.trailersAnnounced });
  }

  /**
   * Backpressure at OUT_HIGH_WATER rather than at the stream's own 16 KiB: pausing
   * undici for every chunk left full-duplex exchanges (h2 client, h1 upstream
   * echoing while reading) crawling and then stalling in Node's h2 session.
   */
  write(chunk: Buffer): boolean {
    if (this.stream.destroyed) return true;
    this.stream.write(chunk);
    return this.stream.writableLength < OUT_HIGH_WATER;
  }

  onceDrain(resume: () => void): void {
    this.stream.once('drain', resume);
  }

  end(trailers: IncomingHttpHeaders): void {
    this.ended = true;
    if (this.stream.destroyed) return;
    if (this.trailersAnnounced) {
      // None sent after all: Node ends the stream with an empty DATA frame rather than an empty HEADERS.
      const fields = downstreamHeaders(trailers);
      this.stream.once('wantTrailers', () => this.stream.sendTrailers(fields));
    }
    this.stream.end();
  }

  refuse(err: GatehouseError): void {
    this.ended = true;
    const { status, headers, body } = refusalResponse(err, this.requestId, this.runtime.challenges);
    this.status = status;
    if (this.stream.destroyed || this.stream.headersSent) return;
    this.stream.respond(neverIndexRequestId({ ':status': status, ...headers }));
    this.stream.end(body);
  }

  /**
   * Resets the stream. Not `close(code)`: it ends the writable side first, and
   * the END_STREAM it may send makes the truncated answer look complete.
   */
  cut(): void {
    this.ended = true;
    this.stream.destroy(UPSTREAM_CUT);
  }

  onClientGone(callback: () => void): void {
    this.stream.once('close', () => {
      if (!this.ended) callback();
    });
  }
}
