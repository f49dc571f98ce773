import type { IncomingMessage } from 'node:http';
import http2, { type ServerHttp2Stream } from 'node:http2';
import type { Duplex } from 'node:stream';
import { REFUSALS } from '../errors';
import type { RequestLogLine } from '../log';
import type { Runtime } from '../runtime';
import type { ClientErrorReason } from './listener';
import { neverIndexRequestId, requestIdFrom } from './request-id';
import { refusalResponse, writeRawRefusal } from './refusal';

/**
 * Requests refused at the edge, before routing: those Node's parser rejects
 * and CONNECT. Each gets the one log line and metric every request gets.
 */
function edgeLine(listener: string, client: string, requestId: string, method: string, path: string): RequestLogLine {
  return {
    request_id: requestId, listener, protocol: 'http', method, path,
    deployment: undefined, reason: 'pending', status: 0, duration_ms: 0, token_id: undefined, client,
  };
}

/** Records a request Node's HTTP/1.1 parser refused (malformed, headers too large or too slow); returns its id. */
export function clientErrorRecorder(runtime: Runtime, listener: string) {
  return function onClientError(status: number, reason: ClientErrorReason, client: string): string {
    const startedAt = performance.now();
    const line = edgeLine(listener, client, requestIdFrom(undefined), '', '');
    line.reason = reason;
    line.status = status;
    runtime.record(line, startedAt);
    return line.request_id;
  };
}

/** HTTP/1.1 CONNECT: 405, and the connection closes (nothing after it can be framed). */
export function connectHandler(runtime: Runtime, listener: string) {
  return function onConnect(req: IncomingMessage, socket: Duplex): void {
    const startedAt = performance.now();
    const line = edgeLine(listener, req.socket.remoteAddress ?? '', requestIdFrom(req.headers['x-request-id']), 'CONNECT', req.url ?? '');
    line.status = writeRawRefusal(socket, REFUSALS.connect, line.request_id, runtime.challenges);
    line.reason = REFUSALS.connect.code;
    runtime.record(line, startedAt);
  };
}

/** True for an HTTP/2 CONNECT (RFC 9113 §8.5): it has no `:path`, nothing an upstream could be sent. */
export function isH2Connect(headers: { readonly [':method']?: string }): boolean {
  return headers[':method'] === 'CONNECT';
}

/** HTTP/2 CONNECT: 405 on its stream, whatever its content type. */
export function refuseH2Connect(runtime: Runtime, listener: string, stream: ServerHttp2Stream, authority: string): void {
  const startedAt = performance.now();
  stream.on('error', () => undefined);
  const line = edgeLine(listener, stream.session?.socket?.remoteAddress ?? '', requestIdFrom(undefined), 'CONNECT', authority);
  const { status, headers, body } = refusalResponse(REFUSALS.connect, line.request_id, runtime.challenges);
  if (!stream.destroyed && !stream.headersSent) {
    stream.respond(neverIndexRequestId({ ':status': status, ...headers }));
    stream.end(body);
    // A tunnel's client keeps its side open: the reset (after the answer) frees the stream slot.
    stream.close(http2.constants.NGHTTP2_NO_ERROR);
  }
  line.status = status;
  line.reason = REFUSALS.connect.code;
  runtime.record(line, startedAt);
}
