import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { hostOf, startGateway } from '../helpers/gateway';
import { rawGrpcCall } from '../helpers/grpc';

/** The header fields of `raw` named `name`, in order. */
function valuesOf(raw: readonly string[], name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) if (raw[i] === name) out.push(raw[i + 1]);
  return out;
}

t.test('the upstream call: its pseudo-headers, the client metadata and the gateway fields', async (t) => {
  const seen: string[][] = [];
  const upstream = http2.createServer();
  upstream.on('stream', (stream, _headers, _flags, raw) => {
    seen.push(raw);
    stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '0' }, { endStream: true });
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => upstream.close(() => resolve())));
  const port = (upstream.address() as AddressInfo).port;
  const gw = await startGateway(t, { deployments: [{ name: 'rpc', access: 'public', protocol: 'grpc', upstreams: [`http://127.0.0.1:${port}`] }] });

  const reply = await rawGrpcCall(gw.external, {
    ':authority': hostOf('rpc'), ':path': '/pkg.Svc/Call', 'x-tag': ['first', 'second'], 'x-request-id': 'meta-1', 'x-gatehouse-token-id': 'forged',
  });
  t.equal(reply.headers['grpc-status'], '0');
  t.equal(seen.length, 1);
  const raw = seen[0];
  t.same(valuesOf(raw, ':method'), ['POST']);
  t.same(valuesOf(raw, ':path'), ['/pkg.Svc/Call']);
  t.same(valuesOf(raw, ':authority'), [`127.0.0.1:${port}`], 'the upstream origin as :authority');
  t.same(valuesOf(raw, 'te'), ['trailers']);
  t.same(valuesOf(raw, 'content-type'), ['application/grpc']);
  // node:http2 hands the gateway a repeated name as one comma-joined field (RFC 9110 §5.3), as gRPC allows.
  t.same(valuesOf(raw, 'x-tag'), ['first, second'], 'a repeated name reaches the upstream with every value, in order');
  t.same(valuesOf(raw, 'x-request-id'), ['meta-1']);
  t.same(valuesOf(raw, 'x-gatehouse-token-id'), [], 'no forged gateway header');
  t.same(valuesOf(raw, 'x-forwarded-host'), [hostOf('rpc')]);
});
