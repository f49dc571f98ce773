import type { IncomingMessage } from 'node:http';
import http2, { type ServerHttp2Stream } from 'node:http2';

/**
 * Ends an HTTP/1.1 request whose body stops arriving for `ms`, whether it was
 * allowed (streaming upstream) or refused (Node reads and discards the rest):
 * either way a client that stalls mid-body would hold its connection forever.
 * Progress is the socket's byte count, so nothing here puts the body into
 * flowing mode; a body the gateway itself holds back (upstream backpressure)
 * is not stalled. Checked every `ms`: a stall is noticed within twice that.
 */
export function endStalledBody(req: IncomingMessage, ms: number): void {
  const socket = req.socket as IncomingMessage['socket'] & { bytesRead?: number };
  let seen = socket.bytesRead ?? 0;
  const timer = setTimeout(function check() {
    if (req.complete || req.destroyed) return;
    const now = socket.bytesRead ?? 0;
    if (now !== seen || req.readableFlowing === false) {
      seen = now;
      timer.refresh();
      return;
    }
    socket.destroy();
  }, ms);
  timer.unref();
  req.once('end', () => clearTimeout(timer));
  req.once('close', () => clearTimeout(timer));
}

/**
 * The HTTP/2 form: a stream with a request body and no traffic either way for
 * `ms` is reset (CANCEL). A refused stream whose client never ends its body
 * would otherwise stay open and keep its session from ever going idle.
 */
export function cancelStalledStream(stream: ServerHttp2Stream, ms: number): void {
  if (stream.endAfterHeaders) return;
  const cancel = (): void => {
    if (!stream.destroyed) stream.close(http2.constants.NGHTTP2_CANCEL);
  };
  stream.setTimeout(ms, cancel);
  stream.once('end', () => {
    stream.removeListener('timeout', cancel);
    stream.setTimeout(0);
  });
}
