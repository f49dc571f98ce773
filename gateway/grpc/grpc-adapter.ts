import type { IncomingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import { Allowed, whenDecided, type Decision } from '../auth/decide';
import { GatehouseError, GrpcStatus, REFUSALS } from '../errors';
import { clientAddress } from '../http/client-address';
import { requestIdFrom } from '../http/request-id';
import { forwardContext } from '../http/forward-headers';
import type { RequestLogLine } from '../log';
import type { Runtime } from '../runtime';
import { forwardCall } from './grpc-forward';
import { grpcRequestHeaders } from './grpc-headers';
import { refuseCall } from './grpc-reply';
import { addRateLimitFields } from '../http/refusal';
import { releaseOnClose } from '../limits/release-on-close';
import type { RateLimitFields } from '../limits/ratelimit-fields';

type DataListener = 'external' | 'internal';
export type GrpcCallHandler = (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => void;

function ignore(): void {}

/** `CODE: message` of a foreign error, for the log line. */
function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const code = (err as NodeJS.ErrnoException).code;
  return code === undefined || err.message.includes(code) ? err.message : `${code}: ${err.message}`;
}

/**
 * The gRPC face of the pipeline, on the same HTTP/2 listeners as HTTP:
 * route by `:authority` → the shared decision → forward over a pooled
 * upstream session. Refusals are trailers-only gRPC answers.
 */
export function grpcHandler(runtime: Runtime, listener: DataListener, secure: boolean): GrpcCallHandler {
  return function onCall(stream, headers) {
    const startedAt = performance.now();
    // A client's RST_STREAM surfaces as a stream error; the 'close' that follows is what the forwarder acts on.
    stream.on('error', ignore);
    const requestId = requestIdFrom(headers['x-request-id']);
    const authority = headers[':authority'] ?? headers.host;
    const route = runtime.routes.lookup(authority);
    const path = headers[':path'] ?? '';
    const line: RequestLogLine = {
      request_id: requestId, listener, protocol: 'grpc', method: headers[':method'] ?? 'POST', path, grpc_method: path,
      deployment: route?.name, reason: 'pending', status: 0, duration_ms: 0, token_id: undefined,
      client: stream.session?.socket?.remoteAddress ?? '',
    };
    if (runtime.draining) {
      return refuse(runtime, stream, line, REFUSALS.shuttingDown, startedAt);
    }
    const decision = runtime.decider.decide({
      listener, route, protocol: 'grpc', authorization: headers.authorization,
      clientAddress: clientAddress(line.client, headers['x-forwarded-for'], runtime.isTrustedProxy),
      connection: stream.session,
    });
    const go = (d: Decision): void => proceed(runtime, stream, headers, line, d, startedAt, secure, authority ?? '');
    whenDecided(decision, go);
  };
}

function proceed(
  runtime: Runtime, stream: ServerHttp2Stream, headers: IncomingHttpHeaders, line: RequestLogLine,
  decision: Decision, startedAt: number, secure: boolean, authority: string,
): void {
  if (!(decision instanceof Allowed)) {
    line.token_id = decision.tokenId;
    return refuse(runtime, stream, line, decision, startedAt);
  }
  // A call holds its concurrency slot while its stream is open.
  releaseOnClose(stream, decision.limit);
  if (stream.destroyed) return record(runtime, line, 0, GrpcStatus.CANCELLED, 'client_aborted', startedAt);
  // The decision may have waited on the store: use the routes as they are now.
  const route = runtime.routes.get(line.deployment as string);
  const upstreams = route?.grpcUpstreams;
  if (route === undefined || upstreams === undefined) {
    return refuse(runtime, stream, line, route === undefined ? REFUSALS.notFound : REFUSALS.wrongProtocol, startedAt);
  }
  line.reason = decision.reason;
  line.token_id = decision.token?.id;
  const upstreamHeaders = grpcRequestHeaders(headers,
    forwardContext(line, runtime.isTrustedProxy(line.client), secure, authority, route.spec.forwardAuthorization));
  runtime.inflight++;
  forwardCall({
    client: stream,
    headers: upstreamHeaders,
    upstreams,
    responseTimeout: route.timeouts.response,
    requestId: line.request_id,
    responseHeaders: decision.limit === null ? undefined : rateLimitHeaders(decision.limit.fields),
    done: (result) => {
      runtime.inflight--;
      if (result.error !== undefined) line.error = describe(result.error);
      line.bytes_in = result.bytesIn;
      line.bytes_out = result.bytesOut;
      record(runtime, line, result.status, result.grpcStatus, result.outcome === 'ok' ? line.reason : result.outcome, startedAt);
    },
  });
}

function rateLimitHeaders(fields: RateLimitFields): Record<string, string> {
  const headers: Record<string, string> = {};
  addRateLimitFields(headers, fields);
  return headers;
}

function refuse(runtime: Runtime, stream: ServerHttp2Stream, line: RequestLogLine, err: GatehouseError, startedAt: number): void {
  const grpcStatus = refuseCall(stream, err, line.request_id);
  if (err.cause !== undefined) runtime.log.error({ request_id: line.request_id, err: err.cause }, 'refused: %s', err.code);
  record(runtime, line, stream.headersSent ? 200 : 0, grpcStatus, err.code, startedAt);
}

function record(runtime: Runtime, line: RequestLogLine, status: number, grpcStatus: number | undefined, reason: string, startedAt: number): void {
  line.reason = reason;
  line.status = status;
  line.grpc_status = grpcStatus;
  runtime.record(line, startedAt);
}
