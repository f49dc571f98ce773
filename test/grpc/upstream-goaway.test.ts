import * as grpc from '@grpc/grpc-js';
import http2, { type ServerHttp2Stream } from 'node:http2';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { hostOf, startGateway } from '../helpers/gateway';
import { echoClient, unary, until } from '../helpers/grpc';

const CLIENT_STREAM = '/gatehouse.test.Echo/ClientStream';

/** A gRPC message (uncompressed) carrying EchoRequest/EchoReply field 1, `text`. */
function message(text: string): Buffer {
  const body = Buffer.concat([Buffer.from([0x0a, text.length]), Buffer.from(text)]);
  const head = Buffer.alloc(5);
  head.writeUInt32BE(body.length, 1);
  return Buffer.concat([head, body]);
}

/** Answers a call with everything it received, as one message per message (EchoRequest.text and EchoReply.text share field 1). */
function echo(stream: ServerHttp2Stream): void {
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c));
  stream.on('end', () => {
    if (stream.destroyed) return;
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
    stream.end(Buffer.concat(chunks));
  });
}

t.test('calls an upstream refuses by GOAWAY (never processed) are replayed on a fresh session', async (t) => {
  // The first session waits for `refuseAfter` streams, then sends GOAWAY(NO_ERROR, last stream 1): a graceful
  // restart, as the gateway sees it when its calls cross the GOAWAY on the wire. Later sessions just echo.
  let sessions = 0;
  const refuseAfter = 4;
  const held: ServerHttp2Stream[] = [];
  const server = http2.createServer();
  const open = new Set<http2.ServerHttp2Session>();
  server.on('session', (session) => {
    open.add(session);
    const isFirst = sessions++ === 0;
    session.on('stream', (stream) => {
      stream.on('error', () => undefined);
      if (!isFirst) return echo(stream);
      held.push(stream);
      if (held.length < refuseAfter) return;
      session.goaway(http2.constants.NGHTTP2_NO_ERROR, 1);
      echo(held[0]);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    // The streams past the GOAWAY stay open on this side: nothing else would end the first session.
    for (const session of open) session.destroy();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const gw = await startGateway(t, {
    deployments: [{ name: 'open', access: 'public', protocol: 'grpc', upstreams: [`http://127.0.0.1:${(server.address() as AddressInfo).port}`] }],
  });
  const client = echoClient(t, gw.externalPort, hostOf('open'), { tls: false });

  // Stream 1 (processed): one unary call. Then, refused: a streaming upload whose body is still open, and two unary calls.
  const first = unary(client, { text: 'a' }, new grpc.Metadata());
  await until(() => held.length === 1);
  const h2 = http2.connect(gw.external);
  t.teardown(() => h2.destroy());
  const upload = h2.request({ ':method': 'POST', ':path': CLIENT_STREAM, ':authority': hostOf('open'), 'content-type': 'application/grpc', te: 'trailers' });
  upload.write(message('first,'));
  const uploaded = new Promise<{ body: Buffer; status: unknown }>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let status: unknown;
    upload.on('data', (c: Buffer) => chunks.push(c));
    upload.on('trailers', (tr) => { status = tr['grpc-status']; });
    upload.on('error', reject);
    upload.on('close', () => resolve({ body: Buffer.concat(chunks), status }));
  });
  const others = ['b', 'c'].map((text) => unary(client, { text }, new grpc.Metadata()));
  setTimeout(() => upload.end(message('second')), 200);

  const answers = await Promise.all([first, ...others]);
  t.same(answers.map((a) => [a.code, a.reply?.text]), [[0, 'a'], [0, 'b'], [0, 'c']], 'every unary call answered in full, none UNAVAILABLE');
  const { body, status } = await uploaded;
  t.equal(status, '0', 'the upload too');
  t.same(body, Buffer.concat([message('first,'), message('second')]), 'with every byte sent before and after the refusal, once');
  t.equal(sessions, 2, 'the refused calls went to one fresh session');
});
