import * as grpc from '@grpc/grpc-js';
import http2, { type ServerHttp2Stream } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { addAbortSignal } from 'node:stream';
import t from 'tap';
import { hostOf, startGateway, type Teardown } from '../helpers/gateway';
import { drain, echoClient, until, type EchoReply } from '../helpers/grpc';

const { NGHTTP2_CANCEL } = http2.constants;
const SERVER_STREAM = '/gatehouse.test.Echo/ServerStream';
const CLIENT_STREAM = '/gatehouse.test.Echo/ClientStream';

/**
 * Resets a stream with CANCEL and nothing before it, as gRPC C-core and
 * grpc-js servers do; Node's `close(CANCEL)` would send END_STREAM first.
 */
function resetWithCancel(stream: http2.Http2Stream): void {
  addAbortSignal(AbortSignal.abort(), stream);
}

/** A bare HTTP/2 upstream; `onStream` plays the server, and each stream's RST_STREAM code is recorded on close. */
async function rawUpstream(t: Teardown, onStream: (stream: ServerHttp2Stream) => void): Promise<{ url: string; rstCodes: number[] }> {
  const rstCodes: number[] = [];
  const server = http2.createServer();
  server.on('stream', (stream) => {
    stream.on('error', () => undefined);
    stream.on('close', () => rstCodes.push(stream.rstCode));
    onStream(stream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, rstCodes };
}

t.test('an upstream RST_STREAM(CANCEL) after the response began reaches the client as a cancellation, not a clean end', async (t) => {
  const up = await rawUpstream(t, (stream) => {
    stream.resume();
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' });
    stream.write(Buffer.alloc(5));
    setTimeout(() => resetWithCancel(stream), 50);
  });
  const gw = await startGateway(t, { deployments: [{ name: 'open', access: 'public', protocol: 'grpc', upstreams: [up.url] }] });
  const client = echoClient(t, gw.externalPort, hostOf('open'), { tls: false });
  const { code, items } = await drain<EchoReply>(client.ServerStream({ count: 1 }, new grpc.Metadata()));
  t.equal(items.length, 1, 'the message sent before the reset arrived');
  t.equal(code, grpc.status.CANCELLED, 'grpc-js reports what it reports for the upstream directly: CANCELLED');

  // At the frame level: the client's stream is reset with CANCEL, never ended without a status.
  const session = http2.connect(gw.external);
  t.teardown(() => session.destroy());
  const seen = await new Promise<{ rstCode: number; trailers: boolean }>((resolve) => {
    const stream = session.request({ ':method': 'POST', ':path': SERVER_STREAM, ':authority': hostOf('open'), 'content-type': 'application/grpc', te: 'trailers' });
    let trailers = false;
    stream.on('trailers', () => { trailers = true; });
    stream.on('error', () => undefined);
    stream.resume();
    stream.on('close', () => resolve({ rstCode: stream.rstCode, trailers }));
    stream.end(Buffer.alloc(5));
  });
  t.same(seen, { rstCode: NGHTTP2_CANCEL, trailers: false });
  await until(() => gw.logs.filter((l) => l.protocol === 'grpc').length === 2);
  const lines = gw.logs.filter((l) => l.protocol === 'grpc');
  t.same(lines.map((l) => l.reason), ['upstream_aborted', 'upstream_aborted'], 'logged as the upstream\'s abort, not the client\'s');
  t.same(lines.map((l) => l.grpc_status), [grpc.status.CANCELLED, grpc.status.CANCELLED]);
});

t.test('a client RST_STREAM(CANCEL) with its request body still open reaches the upstream as CANCEL', async (t) => {
  const up = await rawUpstream(t, (stream) => {
    stream.resume();
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' });
  });
  const gw = await startGateway(t, { deployments: [{ name: 'open', access: 'public', protocol: 'grpc', upstreams: [up.url] }] });
  const session = http2.connect(gw.external);
  t.teardown(() => session.destroy());
  const stream = session.request({ ':method': 'POST', ':path': CLIENT_STREAM, ':authority': hostOf('open'), 'content-type': 'application/grpc', te: 'trailers' });
  stream.on('error', () => undefined);
  stream.write(Buffer.alloc(5));
  await new Promise((resolve) => stream.once('response', resolve));
  resetWithCancel(stream);
  await until(() => up.rstCodes.length === 1);
  t.equal(up.rstCodes[0], NGHTTP2_CANCEL, 'the upstream handler sees a cancellation, not an internal error');
});
