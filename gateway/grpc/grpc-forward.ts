import { constants, type ClientHttp2Session, type ClientHttp2Stream, type Http2Stream, type IncomingHttpHeaders, type OutgoingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import { GatehouseError, GrpcStatus } from '../errors';
import { isConnectFailure, upstreamError } from '../http/upstream-errors';
import { grpcResponseHeaders, grpcStatusOf } from './grpc-headers';
import { refuseCall } from './grpc-reply';
import { CONNECT_TIMEOUT, type GrpcUpstreamSet } from './grpc-upstream-set';

const { NGHTTP2_FLAG_END_STREAM, NGHTTP2_CANCEL } = constants;
/**
 * How far a writer may run ahead of its peer before the reader is paused.
 * Node's 16 KiB stream default would pause and resume every few frames,
 * which costs more CPU than the copying and leaves the client's flow-control
 * window idle between bursts; this still bounds each call's buffering.
 */
const RELAY_BUFFER = 256 * 1024;

export type GrpcOutcome = 'ok' | 'upstream_unavailable' | 'upstream_timeout' | 'upstream_aborted' | 'client_aborted';

export interface GrpcCallResult {
  /** The HTTP/2 status the client got, 0 if none. */
  readonly status: number;
  /** The final grpc-status the client got (or, if it left, CANCELLED); undefined if the upstream sent none. */
  readonly grpcStatus: number | undefined;
  readonly outcome: GrpcOutcome;
  /** The upstream failure behind a non-ok outcome, for the log. */
  readonly error: unknown;
}

export interface GrpcCall {
  /** The client's stream; its 'error' events are the caller's to absorb. */
  readonly client: ServerHttp2Stream;
  /** The upstream request's headers (see grpcRequestHeaders). */
  readonly headers: OutgoingHttpHeaders;
  readonly upstreams: GrpcUpstreamSet;
  /** ms until the upstream's response headers, then DEADLINE_EXCEEDED. */
  readonly responseTimeout: number;
  readonly requestId: string;
  /** Called once, when the client's stream has closed. */
  readonly done: (result: GrpcCallResult) => void;
}

/** Forwards one gRPC call over a pooled upstream session, streaming both ways with backpressure. */
export function forwardCall(call: GrpcCall): void {
  new CallForwarding(call).start();
}

/**
 * A stream error from a session that never connected wraps the socket's
 * error as `cause` (ERR_HTTP2_STREAM_CANCEL); the cause says what happened.
 */
function rootCause(err: unknown): unknown {
  const e = err as { code?: unknown; cause?: unknown } | undefined;
  return e?.code === 'ERR_HTTP2_STREAM_CANCEL' && e.cause !== undefined ? e.cause : err;
}

function codeOf(err: unknown): unknown {
  return (err as { code?: unknown } | undefined)?.code;
}

class CallForwarding {
  private up: ClientHttp2Stream | undefined;
  private session: ClientHttp2Session | undefined;
  private upError: Error | undefined;
  private index = 0;
  private attempts = 0;
  private timer: NodeJS.Timeout | undefined;
  /** The client's body is flowing upstream: another attempt is no longer possible. */
  private bodyStarted = false;
  /** Response headers went to the client; the status comes in trailers. */
  private responding = false;
  /** The client was sent a final status (trailers, trailers-only or a refusal). */
  private answered = false;
  /** The upstream's response ended normally. */
  private upstreamDone = false;
  private trailers: OutgoingHttpHeaders | undefined;
  private status = 0;
  private grpcStatus: number | undefined;
  private outcome: GrpcOutcome = 'ok';
  private error: unknown;

  constructor(private readonly call: GrpcCall) {}

  start(): void {
    const { client } = this.call;
    client.on('close', () => this.onClientClose());
    client.on('wantTrailers', () => this.sendTrailers());
    this.timer = setTimeout(() => this.onTimeout(), this.call.responseTimeout);
    this.attempt();
  }

  private attempt(): void {
    const { upstreams, client } = this.call;
    this.index = upstreams.pick();
    this.attempts++;
    this.upError = undefined;
    let up: ClientHttp2Stream;
    try {
      this.session = upstreams.session(this.index);
      up = this.session.request(this.call.headers, { endStream: client.endAfterHeaders });
    } catch (err) {
      this.upstreamFailed(err);
      return;
    }
    this.up = up;
    up.on('error', (err) => { this.upError = err; });
    // The client's body waits in its stream (held by flow control) until the
    // upstream stream exists, so a refused connection can still be retried elsewhere.
    if (!client.endAfterHeaders) {
      // On a connected session the stream is ready at once (and 'ready' already emitted).
      if (up.pending) up.once('ready', () => this.startBody(up));
      else this.startBody(up);
    }
    up.on('response', (headers, flags) => this.onResponse(up, headers, flags));
    up.on('trailers', (trailers) => {
      this.trailers = grpcResponseHeaders(trailers);
      this.grpcStatus = grpcStatusOf(trailers);
    });
    up.on('close', () => this.onUpstreamClose(up));
  }

  private startBody(up: ClientHttp2Stream): void {
    const { client } = this.call;
    if (client.destroyed || up !== this.up) return;
    this.bodyStarted = true;
    // A request's end (emitted after this read's ticks and microtasks) comes
    // before the immediate, so it leaves with the last chunk: one DATA frame
    // with END_STREAM, as gRPC clients send a unary request, not two.
    relay(client, up, () => up.end(), setImmediate);
  }

  private onResponse(up: ClientHttp2Stream, headers: IncomingHttpHeaders, flags: number): void {
    clearTimeout(this.timer);
    this.call.upstreams.markUp(this.index);
    const { client } = this.call;
    if (client.destroyed || this.answered) return;
    this.status = Number(headers[':status']) || 0;
    const out = grpcResponseHeaders(headers, this.call.requestId);
    if (flags & NGHTTP2_FLAG_END_STREAM) {
      // Trailers-only: relay it as one HEADERS frame ending the stream, as the upstream sent it.
      this.upstreamDone = true;
      this.answered = true;
      this.grpcStatus = grpcStatusOf(headers);
      client.respond(out, { endStream: true });
      // Nothing to read, but the stream only finishes once its end is consumed.
      up.resume();
      return;
    }
    this.responding = true;
    client.respond(out, { waitForTrailers: true });
    // Answers go out at the end of this read's ticks, with the response headers already queued.
    relay(up, client, () => {
      this.upstreamDone = true;
      client.end();
    }, queueMicrotask);
  }

  private sendTrailers(): void {
    const { client } = this.call;
    this.answered = true;
    if (!client.destroyed) client.sendTrailers(this.trailers ?? {});
  }

  private onUpstreamClose(up: ClientHttp2Stream): void {
    if (up !== this.up || this.upstreamDone || this.answered) return;
    const { client } = this.call;
    if (client.destroyed) return;
    if (!this.responding) {
      this.upstreamFailed(this.upError ?? new Error(`upstream closed the call (RST_STREAM ${up.rstCode})`));
      return;
    }
    this.outcome = 'upstream_aborted';
    this.error = this.upError;
    if (this.session?.destroyed) {
      // The connection is gone, not the call refused: tell the client in gRPC terms.
      this.trailers = { 'grpc-status': String(GrpcStatus.UNAVAILABLE), 'grpc-message': 'the upstream connection was lost' };
      this.grpcStatus = GrpcStatus.UNAVAILABLE;
      client.end();
      return;
    }
    // The upstream reset the call: reset the client's stream too (RST_STREAM, not a clean end).
    client.destroy(new Error(`upstream reset the call (RST_STREAM ${up.rstCode})`));
  }

  /**
   * Before any response: retry a call that never reached its upstream (a
   * refused connection elsewhere, a session out of stream ids on a fresh
   * session), else answer 14 or 4.
   */
  private upstreamFailed(err: unknown): void {
    const { upstreams, client } = this.call;
    const cause = rootCause(err);
    const code = codeOf(cause);
    const timedOut = code === CONNECT_TIMEOUT;
    // Node leaves a session whose stream ids (about 2^30 calls) are used up open, refusing every new call.
    const exhausted = code === 'ERR_HTTP2_OUT_OF_STREAMS';
    if (exhausted && this.session !== undefined) upstreams.retire(this.index, this.session);
    if (exhausted || timedOut || isConnectFailure(cause)) {
      if (!exhausted) upstreams.markDown(this.index);
      // One try per upstream, plus one on the fresh session replacing an exhausted one.
      const budget = upstreams.size + (exhausted ? 1 : 0);
      if (!this.bodyStarted && !client.destroyed && this.attempts < budget) {
        this.attempt();
        return;
      }
    }
    const refusal = timedOut ? new GatehouseError('upstream_timeout', { cause }) : upstreamError(cause);
    this.refuse(refusal, refusal.code === 'upstream_timeout' ? 'upstream_timeout' : 'upstream_unavailable');
  }

  private onTimeout(): void {
    if (this.responding || this.answered) return;
    if (this.up !== undefined) cancel(this.up);
    this.refuse(new GatehouseError('upstream_timeout'), 'upstream_timeout');
  }

  private refuse(err: GatehouseError, outcome: GrpcOutcome): void {
    clearTimeout(this.timer);
    const { client } = this.call;
    this.outcome = outcome;
    this.error = err.cause;
    this.answered = true;
    this.grpcStatus = refuseCall(client, err, this.call.requestId);
    this.status = client.headersSent ? 200 : 0;
  }

  private onClientClose(): void {
    clearTimeout(this.timer);
    const up = this.up;
    if (!this.answered) {
      this.outcome = 'client_aborted';
      this.grpcStatus = GrpcStatus.CANCELLED;
    }
    if (up !== undefined && !up.closed) cancel(up);
    this.call.done({ status: this.status, grpcStatus: this.grpcStatus, outcome: this.outcome, error: this.error });
  }
}

/**
 * Resets an upstream call so its handler sees a cancellation. Node's
 * `close(code)` first ends a request body still open (END_STREAM, which
 * would read as a finished upload) and only then sends RST_STREAM; with the
 * body open, `destroy` resets at once, though with INTERNAL_ERROR. (An
 * AbortSignal per call would give CANCEL in both cases, but costs about a
 * tenth of the gateway's CPU per unary call.)
 */
function cancel(up: ClientHttp2Stream): void {
  if (up.writableEnded) up.close(NGHTTP2_CANCEL);
  else up.destroy(new Error('call cancelled'));
}

/**
 * Copies one direction of a call with backpressure (see RELAY_BUFFER).
 * `onEnd` runs on a clean end only: Node also ends a stream that was reset.
 */
function relay(from: Http2Stream, to: Http2Stream, onEnd: () => void, flushLater: (flush: () => void) => void): void {
  const resume = (): void => { from.resume(); };
  let corked = false;
  const uncork = (): void => {
    corked = false;
    to.uncork();
  };
  from.on('data', (chunk: Buffer) => {
    if (to.destroyed || to.writableEnded) return;
    // Chunks of one read are written together, after `flushLater`.
    if (!corked) {
      corked = true;
      to.cork();
      flushLater(uncork);
    }
    to.write(chunk);
    if (to.writableLength > RELAY_BUFFER && !from.isPaused()) {
      from.pause();
      to.once('drain', resume);
    }
  });
  from.on('end', () => {
    if (!from.aborted && !to.destroyed && !to.writableEnded) onEnd();
  });
}
