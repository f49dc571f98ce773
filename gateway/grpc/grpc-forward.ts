import { constants, type ClientHttp2Session, type ClientHttp2Stream, type Http2Stream, type IncomingHttpHeaders, type OutgoingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import { addAbortSignal } from 'node:stream';
import { GatehouseError, GrpcStatus } from '../errors';
import { isConnectFailure, upstreamError } from '../http/upstream-errors';
import { grpcResponseHeaders, grpcStatusOf } from './grpc-headers';
import { refuseCall } from './grpc-reply';
import { CONNECT_TIMEOUT, type GrpcUpstreamSet } from './grpc-upstream-set';

const { NGHTTP2_FLAG_END_STREAM, NGHTTP2_CANCEL, NGHTTP2_NO_ERROR, NGHTTP2_REFUSED_STREAM } = constants;
/** Destroying a stream with Node's own AbortError (what an aborted signal does) resets it with CANCEL. */
const ABORTED = AbortSignal.abort();
/**
 * How far a writer may run ahead of its peer before the reader is paused.
 * Node's 16 KiB stream default would pause and resume every few frames,
 * which costs more CPU than the copying and leaves the client's flow-control
 * window idle between bursts; this still bounds each call's buffering.
 */
const RELAY_BUFFER = 256 * 1024;
/**
 * Request bytes kept until the upstream answers, so that a stream it refused
 * unprocessed (REFUSED_STREAM, or past a GOAWAY's last stream: a graceful
 * restart) can be sent again on a fresh session. Below RELAY_BUFFER, so the
 * client is never paused on a refused stream while its bytes are kept.
 */
const REPLAY_LIMIT = 64 * 1024;

export type GrpcOutcome = 'ok' | 'upstream_unavailable' | 'upstream_timeout' | 'upstream_aborted' | 'client_aborted';

export interface GrpcCallResult {
  /** The HTTP/2 status the client got, 0 if none. */
  readonly status: number;
  /** The final grpc-status the client got (or, if it left, CANCELLED); undefined if the upstream sent none. */
  readonly grpcStatus: number | undefined;
  readonly outcome: GrpcOutcome;
  /** The upstream failure behind a non-ok outcome, for the log. */
  readonly error: unknown;
  /** Message bytes relayed from the client and to it. */
  readonly bytesIn: number;
  readonly bytesOut: number;
}

export interface GrpcCall {
  /** The client's stream; its 'error' events are the caller's to absorb. */
  readonly client: ServerHttp2Stream;
  /** The upstream request's headers (see grpcRequestHeaders). */
  readonly headers: readonly string[];
  readonly upstreams: GrpcUpstreamSet;
  /** ms until the upstream's response headers, then DEADLINE_EXCEEDED. */
  readonly responseTimeout: number;
  readonly requestId: string;
  /** Set on the response headers the client gets (a limit's RateLimit fields). */
  readonly responseHeaders?: OutgoingHttpHeaders;
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
  /** The client's body is flowing upstream: another attempt needs `sent`. */
  private bodyStarted = false;
  /** The body so far, while it may still be replayed (see REPLAY_LIMIT); undefined once it may not. */
  private sent: Buffer[] | undefined;
  private sentBytes = 0;
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
  private readonly bytesIn: Tally = { bytes: 0 };
  private readonly bytesOut: Tally = { bytes: 0 };

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
    if (this.bodyStarted) {
      // A replay: what the refused stream carried, then the rest as it comes (the client was paused meanwhile).
      for (const chunk of this.sent ?? []) up.write(chunk);
      if (client.readableEnded) return void up.end();
      relay(client, up, () => up.end(), setImmediate, this.bytesIn);
      client.resume();
      return;
    }
    this.bodyStarted = true;
    this.sent = [];
    client.on('data', this.keep);
    // A request's end (emitted after this read's ticks and microtasks) comes
    // before the immediate, so it leaves with the last chunk: one DATA frame
    // with END_STREAM, as gRPC clients send a unary request, not two.
    relay(client, up, () => up.end(), setImmediate, this.bytesIn);
  }

  private readonly keep = (chunk: Buffer): void => {
    if (this.sent === undefined) return;
    this.sentBytes += chunk.length;
    if (this.sentBytes > REPLAY_LIMIT) this.forgetSent();
    else this.sent.push(chunk);
  };

  private forgetSent(): void {
    this.sent = undefined;
    this.call.client.off('data', this.keep);
  }

  private onResponse(up: ClientHttp2Stream, headers: IncomingHttpHeaders, flags: number): void {
    clearTimeout(this.timer);
    if (this.sent !== undefined) this.forgetSent();
    this.call.upstreams.markUp(this.index);
    const { client } = this.call;
    if (client.destroyed || this.answered) return;
    this.status = Number(headers[':status']) || 0;
    const out = grpcResponseHeaders(headers, this.call.requestId);
    if (this.call.responseHeaders !== undefined) Object.assign(out, this.call.responseHeaders);
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
    }, queueMicrotask, this.bytesOut);
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
      this.upstreamFailed(this.upError ?? new Error(`upstream closed the call (RST_STREAM ${up.rstCode})`), up.rstCode === NGHTTP2_REFUSED_STREAM);
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
    // The upstream reset the call: reset the client's stream too (RST_STREAM, not a clean end),
    // keeping CANCEL, which clients report as CANCELLED; any other code reads as INTERNAL anyway.
    this.answered = true;
    this.grpcStatus = up.rstCode === NGHTTP2_CANCEL ? GrpcStatus.CANCELLED : GrpcStatus.INTERNAL;
    if (up.rstCode === NGHTTP2_CANCEL) cancel(client);
    else client.destroy(new Error(`upstream reset the call (RST_STREAM ${up.rstCode})`));
  }

  /**
   * Before any response: retry a call that never reached its upstream (a
   * refused connection elsewhere, a session out of stream ids or a refused
   * stream on a fresh session), else answer 14 or 4.
   */
  private upstreamFailed(err: unknown, refused = false): void {
    const { upstreams, client } = this.call;
    const cause = rootCause(err);
    const code = codeOf(cause);
    const timedOut = code === CONNECT_TIMEOUT;
    // Node leaves a session whose stream ids (about 2^30 calls) are used up open, refusing every new call.
    const exhausted = code === 'ERR_HTTP2_OUT_OF_STREAMS';
    if (exhausted && this.session !== undefined) upstreams.retire(this.index, this.session);
    if (refused || exhausted || timedOut || isConnectFailure(cause)) {
      if (!exhausted && !refused) upstreams.markDown(this.index);
      // One try per upstream, plus one on the fresh session replacing an exhausted or closing one.
      const budget = upstreams.size + (exhausted || refused ? 1 : 0);
      if ((!this.bodyStarted || this.sent !== undefined) && !client.destroyed && this.attempts < budget) {
        // Until the next stream is ready, the body waits in the client's stream.
        if (this.bodyStarted) client.pause();
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
    this.call.done({
      status: this.status, grpcStatus: this.grpcStatus, outcome: this.outcome, error: this.error,
      bytesIn: this.bytesIn.bytes, bytesOut: this.bytesOut.bytes,
    });
  }
}

/**
 * Resets a stream with RST_STREAM(CANCEL), so its peer sees a cancellation.
 * Not `close(NGHTTP2_CANCEL)`: with the writable side open it sends END_STREAM
 * first (a finished upload, or an answer without a status); and a plain
 * `destroy(err)` resets with INTERNAL_ERROR.
 */
function cancel(stream: Http2Stream): void {
  addAbortSignal(ABORTED, stream);
}

/** Bytes relayed in one direction (for the token's usage). */
interface Tally { bytes: number }

/**
 * Copies one direction of a call with backpressure (see RELAY_BUFFER), adding
 * what it writes to `tally`. `onEnd` runs on a clean end only: Node also ends a stream that was reset.
 */
function relay(from: Http2Stream, to: Http2Stream, onEnd: () => void, flushLater: (flush: () => void) => void, tally: Tally): void {
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
    tally.bytes += chunk.length;
    if (to.writableLength > RELAY_BUFFER && !from.isPaused()) {
      from.pause();
      to.once('drain', resume);
    }
  });
  from.on('end', () => {
    // A stream reset with CANCEL after its writable side ended is not `aborted`, yet Node ends it too.
    if (!from.aborted && from.rstCode === NGHTTP2_NO_ERROR && !to.destroyed && !to.writableEnded) onEnd();
  });
}
