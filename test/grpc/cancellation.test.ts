import * as grpc from '@grpc/grpc-js';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { hostOf, startGateway } from '../helpers/gateway';
import { drain, echoClient, rawGrpcCall, startGrpcUpstream, unary, until, type EchoReply } from '../helpers/grpc';

const SERVER_STREAM = '/gatehouse.test.Echo/ServerStream';

t.test('client cancellation reaches the upstream handler, for every call kind', async (t) => {
  const up = await startGrpcUpstream(t);
  const gw = await startGateway(t, { deployments: [{ name: 'open', access: 'public', protocol: 'grpc', upstreams: [up.url] }] });
  const client = echoClient(t, gw.externalPort, hostOf('open'), { tls: false });

  const slowUnary = client.Unary({ text: 'x', delayMs: 2_000 }, new grpc.Metadata(), {}, () => undefined);
  await until(() => up.calls.length === 1);
  slowUnary.cancel();
  await until(() => up.calls[0].cancelled);
  t.pass('unary: the upstream sees the cancellation');

  const stream = client.ServerStream({ count: 1_000, size: 10, delayMs: 20 }, new grpc.Metadata());
  stream.on('error', () => undefined);
  await new Promise((resolve) => stream.once('data', resolve));
  stream.cancel();
  await until(() => up.calls[1].cancelled);
  t.pass('server streaming: the upstream sees the cancellation');

  let uploadAnswered = false;
  const upload = client.ClientStream(new grpc.Metadata(), {}, (err) => { uploadAnswered = err === null; });
  upload.write({ text: 'a' });
  await until(() => up.calls.length === 3);
  upload.cancel();
  await until(() => up.calls[2].cancelled);
  t.notOk(uploadAnswered, 'client streaming: cancelled, not completed');

  const chat = client.Bidi(new grpc.Metadata());
  chat.on('error', () => undefined);
  chat.write({ text: 'hi' });
  await new Promise((resolve) => chat.once('data', resolve));
  chat.cancel();
  await until(() => up.calls[3].cancelled);
  t.pass('bidi: the upstream sees the cancellation');

  await until(() => gw.logs.filter((l) => l.protocol === 'grpc').length === 4);
  const lines = gw.logs.filter((l) => l.protocol === 'grpc');
  t.same(lines.map((l) => l.reason), ['client_aborted', 'client_aborted', 'client_aborted', 'client_aborted']);
  t.same(lines.map((l) => l.grpc_status), [1, 1, 1, 1], 'logged as CANCELLED');
  t.equal(gw.gateway.runtime.inflight, 0, 'nothing left in flight');
});

t.test('deadlines: the client deadline travels as grpc-timeout and ends as DEADLINE_EXCEEDED', async (t) => {
  const up = await startGrpcUpstream(t);
  const gw = await startGateway(t, { deployments: [{ name: 'open', access: 'public', protocol: 'grpc', upstreams: [up.url] }] });
  const client = echoClient(t, gw.externalPort, hostOf('open'), { tls: false });
  const res = await unary(client, { text: 'x', delayMs: 2_000 }, new grpc.Metadata(), { deadline: Date.now() + 300 });
  t.equal(res.code, grpc.status.DEADLINE_EXCEEDED, 'grpc-js client deadline');
  await until(() => up.calls[0].cancelled);
  t.pass('the upstream call is cancelled too');

  // A raw client that never enforces its own deadline: only the upstream, told by the forwarded grpc-timeout, can end it.
  const request = Buffer.from([0, 0, 0, 0, 4, 0x10, 100, 0x20, 50]); // EchoRequest{count: 100, delay_ms: 50}
  const started = Date.now();
  const raw = await rawGrpcCall(gw.external, { ':authority': hostOf('open'), ':path': SERVER_STREAM, 'grpc-timeout': '300m' }, request);
  const status = raw.trailers?.['grpc-status'] ?? raw.headers['grpc-status'];
  t.equal(status, String(grpc.status.DEADLINE_EXCEEDED), 'the upstream enforced the forwarded grpc-timeout');
  t.ok(Date.now() - started < 2_000, 'well before the stream would have ended');
});

t.test('upstream down: UNAVAILABLE, and calls recover when it returns', async (t) => {
  const first = await startGrpcUpstream(t);
  const port = first.port;
  const gw = await startGateway(t, { deployments: [{ name: 'open', access: 'public', protocol: 'grpc', upstreams: [first.url] }] });
  const client = echoClient(t, gw.externalPort, hostOf('open'), { tls: false });
  t.equal((await unary(client, { text: 'x' })).code, grpc.status.OK);

  first.close();
  const down = await unary(client, { text: 'x' });
  t.equal(down.code, grpc.status.UNAVAILABLE, 'upstream gone: 14');
  t.equal(down.error?.details, 'the upstream refused, reset or could not be reached');

  const again = await startGrpcUpstream(t, { port });
  const back = await unary(client, { text: 'back' });
  t.equal(back.code, grpc.status.OK, 'the next call after the upstream returns succeeds');
  t.equal(again.calls.length, 1);
});

t.test('an upstream that dies mid-stream ends the call with UNAVAILABLE', async (t) => {
  const up = await startGrpcUpstream(t);
  const gw = await startGateway(t, { deployments: [{ name: 'open', access: 'public', protocol: 'grpc', upstreams: [up.url] }] });
  const client = echoClient(t, gw.externalPort, hostOf('open'), { tls: false });
  const stream = client.ServerStream({ count: 1_000, size: 10, delayMs: 10 }, new grpc.Metadata());
  const result = drain<EchoReply>(stream);
  await new Promise((resolve) => stream.once('data', resolve));
  up.close();
  const { code, items } = await result;
  t.equal(code, grpc.status.UNAVAILABLE);
  t.ok(items.length > 0 && items.length < 1_000, 'some messages arrived before the loss');
  await until(() => gw.logs.some((l) => l.reason === 'upstream_aborted'));
});

t.test('an upstream RST_STREAM after the response began resets the client stream', async (t) => {
  // A bare HTTP/2 upstream: response headers, one message, then RST_STREAM(INTERNAL_ERROR).
  const server = http2.createServer();
  server.on('stream', (stream) => {
    stream.on('error', () => undefined);
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' });
    stream.write(Buffer.alloc(5));
    setTimeout(() => stream.destroy(new Error('upstream gives up')), 50);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  const port = (server.address() as AddressInfo).port;
  const gw = await startGateway(t, { deployments: [{ name: 'open', access: 'public', protocol: 'grpc', upstreams: [`http://127.0.0.1:${port}`] }] });
  const client = echoClient(t, gw.externalPort, hostOf('open'), { tls: false });
  const { code, details } = await drain<EchoReply>(client.ServerStream({ count: 1 }, new grpc.Metadata()));
  t.equal(code, grpc.status.INTERNAL);
  t.match(details, /RST_STREAM with code 2/, 'the client sees a reset, not a clean end');
});

t.test('SIGTERM-style drain lets an in-flight stream finish', async (t) => {
  const up = await startGrpcUpstream(t);
  const gw = await startGateway(t, { deployments: [{ name: 'open', access: 'public', protocol: 'grpc', upstreams: [up.url] }] });
  const client = echoClient(t, gw.externalPort, hostOf('open'), { tls: false });
  const result = drain<EchoReply>(client.ServerStream({ count: 10, size: 10, delayMs: 30 }, new grpc.Metadata()));
  await until(() => gw.gateway.runtime.inflight === 1);
  const clean = await gw.gateway.stop(5_000);
  const { code, items } = await result;
  t.equal(code, grpc.status.OK);
  t.equal(items.length, 10, 'the whole stream arrived');
  t.ok(clean, 'the drain saw the call finish');
});
