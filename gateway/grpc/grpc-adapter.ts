import type { IncomingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import type { Runtime } from '../runtime';
import { GatehouseError } from '../errors';

/** Placeholder until the gRPC forwarder lands: refuses every call with a trailers-only UNIMPLEMENTED. */
export function grpcHandler(_runtime: Runtime, _listener: 'external' | 'internal', _secure: boolean) {
  return function onCall(stream: ServerHttp2Stream, _headers: IncomingHttpHeaders): void {
    const err = new GatehouseError('wrong_protocol');
    stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': String(err.grpcStatus), 'grpc-message': encodeURIComponent(err.message) }, { endStream: true });
  };
}
