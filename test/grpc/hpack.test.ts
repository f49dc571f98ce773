import http2, { type IncomingHttpHeaders } from 'node:http2';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { hostOf, startGateway } from '../helpers/gateway';
import { rawGrpcCall } from '../helpers/grpc';
import { h2Request } from '../helpers/raw-http';
import { startUpstream } from '../helpers/upstream';

/** Names a peer received as "literal never indexed" (RFC 7541 §6.2.3), as Node reports them. */
function neverIndexed(headers: IncomingHttpHeaders | undefined): readonly string[] {
  return (headers as Record<symbol, string[] | undefined> | undefined)?.[http2.sensitiveHeaders] ?? [];
}

t.test('x-request-id, unique to each message, is sent never-indexed on every HTTP/2 leg', async (t) => {
  const seen: IncomingHttpHeaders[] = [];
  const upstream = http2.createServer();
  upstream.on('stream', (stream, headers) => {
    seen.push(headers);
    stream.resume();
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
    stream.end(Buffer.alloc(5));
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => upstream.close(() => resolve())));
  const h1 = await startUpstream(t);
  const gw = await startGateway(t, {
    deployments: [
      { name: 'model', access: 'public', protocol: 'grpc', upstreams: [`http://127.0.0.1:${(upstream.address() as AddressInfo).port}`] },
      { name: 'guarded', access: 'protected', protocol: 'grpc', upstreams: [`http://127.0.0.1:${(upstream.address() as AddressInfo).port}`] },
      { name: 'web', access: 'public', upstreams: [h1.url] },
    ],
  });

  const call = await rawGrpcCall(gw.external, { ':authority': hostOf('model'), ':path': '/x.Y/Z' });
  t.equal(call.trailers?.['grpc-status'], '0');
  t.ok(neverIndexed(seen[0]).includes('x-request-id'), 'to the gRPC upstream');
  t.equal(seen[0]['x-request-id'], call.headers['x-request-id'], 'the same id both ways');
  t.ok(neverIndexed(call.headers).includes('x-request-id'), 'to the gRPC client');
  t.notOk(neverIndexed(call.headers).includes('content-type'), 'fields that repeat stay indexable');

  const refused = await rawGrpcCall(gw.external, { ':authority': hostOf('guarded'), ':path': '/x.Y/Z' });
  t.equal(refused.headers['grpc-status'], '16');
  t.ok(neverIndexed(refused.headers).includes('x-request-id'), 'in a trailers-only refusal');

  const web = await h2Request(gw.external, { ':authority': hostOf('web') });
  t.equal(web.status, 200);
  t.ok(neverIndexed(web.headers).includes('x-request-id'), 'to an HTTP/2 client of an HTTP Deployment');
  const missing = await h2Request(gw.external, { ':authority': hostOf('nowhere') });
  t.equal(missing.status, 404);
  t.ok(neverIndexed(missing.headers).includes('x-request-id'), 'in an HTTP/2 refusal');
});
