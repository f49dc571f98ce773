import type { OutgoingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import type { GatehouseError } from '../errors';
import { neverIndexRequestId } from '../http/request-id';
import { addRateLimitFields } from '../http/refusal';

/** Bytes a grpc-message may carry as they are: printable ASCII except `%` (gRPC over HTTP/2, "Responses"). */
const PLAIN = /^[\x20-\x24\x26-\x7e]*$/;

/** Percent-encodes a grpc-message the way the gRPC spec asks: UTF-8 bytes outside 0x20–0x7E, and `%`. */
export function encodeGrpcMessage(message: string): string {
  if (PLAIN.test(message)) return message;
  let out = '';
  for (const byte of Buffer.from(message, 'utf8')) {
    out += byte < 0x20 || byte > 0x7e || byte === 0x25
      ? `%${byte.toString(16).toUpperCase().padStart(2, '0')}`
      : String.fromCharCode(byte);
  }
  return out;
}

/** Headers of a trailers-only reply carrying a gRPC status. */
export function statusHeaders(grpcStatus: number, message: string, requestId: string): OutgoingHttpHeaders {
  return neverIndexRequestId({
    ':status': 200,
    'content-type': 'application/grpc',
    'grpc-status': String(grpcStatus),
    'grpc-message': encodeGrpcMessage(message),
    'x-request-id': requestId,
  });
}

/**
 * Refuses a call with a real gRPC answer: HTTP/2 200 and one HEADERS frame
 * ending the stream (trailers-only), so every client reports the gateway's
 * status rather than guessing one from an HTTP error. Does nothing once the
 * response has begun or the stream is gone. Returns the gRPC status sent.
 */
export function refuseCall(stream: ServerHttp2Stream, err: GatehouseError, requestId: string): number {
  if (stream.destroyed || stream.headersSent) return err.grpcStatus;
  const headers = statusHeaders(err.grpcStatus, err.message, requestId);
  if (err.retryAfter !== undefined) headers['retry-after'] = String(err.retryAfter);
  if (err.rateLimit !== undefined) addRateLimitFields(headers, err.rateLimit);
  stream.respond(headers, { endStream: true });
  // Whatever the client still sends is unwanted; reading it keeps flow control from stalling the stream open.
  stream.resume();
  return err.grpcStatus;
}
