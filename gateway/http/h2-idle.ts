import type { Http2Session, ServerHttp2Stream } from 'node:http2';

/** Open streams per HTTP/2 session: an idle session is closed only when it has none. */
const openStreams = new WeakMap<Http2Session, number>();

/**
 * Closes (GOAWAY, then close) an HTTP/2 session that stays without traffic
 * for `ms` while it has no open stream. A stream in progress may be silent
 * for longer (a gRPC call waiting on its upstream): its own timeouts apply.
 */
export function closeWhenIdle(session: Http2Session, ms: number): void {
  openStreams.set(session, 0);
  // A listener of its own: setTimeout's callback is a once-listener, gone after a firing that found a stream open.
  session.on('timeout', () => {
    if ((openStreams.get(session) ?? 0) === 0) session.close();
  });
  session.setTimeout(ms);
}

/** Counts a stream as open on its session until it closes; the last one to close re-arms the idle timer. */
export function trackStream(stream: ServerHttp2Stream, ms: number): void {
  const session = stream.session;
  if (session === undefined) return;
  openStreams.set(session, (openStreams.get(session) ?? 0) + 1);
  stream.once('close', () => {
    const left = (openStreams.get(session) ?? 1) - 1;
    openStreams.set(session, left);
    // The session's timer fired (and did nothing) while this stream was open, and no traffic will re-arm it.
    if (left === 0 && !session.closed && !session.destroyed) session.setTimeout(ms);
  });
}
