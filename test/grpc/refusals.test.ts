import * as grpc from '@grpc/grpc-js';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import t from 'tap';
import { generateSecret } from '../../gateway/auth/token-format';
import { hostOf, startGateway, type Teardown } from '../helpers/gateway';
import { bearer, echoClient, rawGrpcCall, startGrpcUpstream, unary, type EchoRequest } from '../helpers/grpc';
import { freePort } from '../helpers/ports';
import { startRedis } from '../helpers/redis';

/** A TCP port that accepts connections and never says a word (a TLS handshake there never completes). */
async function silentPort(t: Teardown): Promise<number> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => { sockets.add(socket); });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const socket of sockets) socket.destroy();
    server.close();
  });
  return (server.address() as AddressInfo).port;
}

t.test('each refusal row of SPEC §2 as a gRPC status (TLS, call credentials)', async (t) => {
  const up = await startGrpcUpstream(t);
  const gw = await startGateway(t, {
    tls: true,
    deployments: [
      { name: 'iris', access: 'protected', protocol: 'grpc', upstreams: [up.url] },
      { name: 'other', access: 'protected', protocol: 'grpc', upstreams: [up.url] },
      { name: 'vault', access: 'private', protocol: 'grpc', upstreams: [up.url] },
      { name: 'web', access: 'public', protocol: 'http', upstreams: [up.url] },
      { name: 'gone', access: 'public', protocol: 'grpc', upstreams: [`http://127.0.0.1:${await freePort()}`] },
      { name: 'slow', access: 'public', protocol: 'grpc', upstreams: [up.url], timeouts: { response: '300ms' } },
      { name: 'stuck', access: 'public', protocol: 'grpc', upstreams: [`https://127.0.0.1:${await silentPort(t)}`], timeouts: { connect: '300ms' } },
    ],
  });
  const { secret } = await gw.mint({ user: ['iris'] });
  const { secret: dev } = await gw.mint({ developer: true });
  const call = (name: string, token?: string, req: EchoRequest = { text: 'x' }) => unary(echoClient(t, gw.externalPort, hostOf(name), { tls: true, token }), req);

  const unknown = await call('nothing');
  t.equal(unknown.code, grpc.status.UNIMPLEMENTED, 'unknown host: 12');
  const hidden = await call('vault');
  t.equal(hidden.code, grpc.status.UNIMPLEMENTED, 'private Deployment: 12');
  t.equal(hidden.error?.details, unknown.error?.details, 'private reads exactly like unknown');
  t.notMatch(hidden.error?.details ?? '', /vault/);
  t.equal((await call('web')).code, grpc.status.UNIMPLEMENTED, 'gRPC to an http Deployment: 12');

  const missing = await call('iris');
  t.equal(missing.code, grpc.status.UNAUTHENTICATED, 'no token: 16');
  t.equal(missing.error?.details, 'a Bearer token is required');
  t.equal((await call('iris', 'gth_not-a-token')).code, grpc.status.UNAUTHENTICATED, 'malformed token: 16');
  t.equal((await call('iris', generateSecret())).code, grpc.status.UNAUTHENTICATED, 'unknown token: 16');

  t.equal((await call('other', secret)).code, grpc.status.PERMISSION_DENIED, 'token without access to that Deployment: 7');
  t.equal((await call('iris', dev)).code, grpc.status.PERMISSION_DENIED, 'developer-only token: 7');
  t.equal((await call('iris', secret)).code, grpc.status.OK, 'and the right token passes');

  const gone = await call('gone');
  t.equal(gone.code, grpc.status.UNAVAILABLE, 'upstream unreachable: 14');
  const slow = await call('slow', undefined, { text: 'x', delayMs: 1_500 });
  t.equal(slow.code, grpc.status.DEADLINE_EXCEEDED, 'upstream slower than timeouts.response: 4');
  t.equal((await call('stuck')).code, grpc.status.DEADLINE_EXCEEDED, 'no connection within timeouts.connect: 4');

  const internal = await unary(echoClient(t, gw.internalPort, hostOf('web'), { tls: true }), { text: 'x' });
  t.equal(internal.code, grpc.status.UNIMPLEMENTED, 'internal listener: gRPC to an http Deployment is 12 too');

  const lines = gw.logs.filter((l) => l.protocol === 'grpc');
  t.match(lines.find((l) => l.deployment === 'vault'), { reason: 'not_found', grpc_status: 12, status: 200 });
  t.match(lines.find((l) => l.deployment === 'gone'), { reason: 'upstream_unavailable', grpc_status: 14, error: /ECONNREFUSED/ });
  t.match(lines.find((l) => l.deployment === 'slow'), { reason: 'upstream_timeout', grpc_status: 4 });
  t.match(lines.find((l) => l.deployment === 'stuck'), { reason: 'upstream_timeout', grpc_status: 4, error: /timed out/ });
  t.notMatch(gw.rawLog(), secret);
});

t.test('a refusal on the wire: HTTP/2 200, application/grpc, one HEADERS frame ending the stream', async (t) => {
  const up = await startGrpcUpstream(t);
  const gw = await startGateway(t, {
    tls: true,
    deployments: [
      { name: 'iris', access: 'protected', protocol: 'grpc', upstreams: [up.url] },
      { name: 'open', access: 'public', protocol: 'grpc', upstreams: [up.url] },
    ],
  });
  const path = '/gatehouse.test.Echo/Unary';
  const refused = await rawGrpcCall(gw.external, { ':authority': hostOf('iris'), ':path': path });
  t.equal(refused.headers[':status'], 200);
  t.equal(refused.headers['content-type'], 'application/grpc');
  t.equal(refused.headers['grpc-status'], '16');
  t.equal(refused.headers['grpc-message'], 'a Bearer token is required');
  t.ok(refused.trailersOnly, 'trailers-only');
  t.equal(refused.trailers, undefined);
  t.equal(refused.body.length, 0);

  const ratelimited = await rawGrpcCall(gw.external, { ':authority': hostOf('iris'), ':path': path, authorization: 'Basic abc' });
  t.equal(ratelimited.headers['grpc-status'], '16', 'a non-Bearer scheme is no token');

  // EchoRequest{fail_code: 5}: the upstream answers trailers-only itself.
  const failing = Buffer.from([0, 0, 0, 0, 2, 0x28, 5]);
  const passed = await rawGrpcCall(gw.external, { ':authority': hostOf('open'), ':path': path }, failing);
  t.ok(passed.trailersOnly, 'an upstream trailers-only answer is relayed as trailers-only');
  t.equal(passed.headers['grpc-status'], '5');
  t.equal(passed.headers['grpc-message'], 'upstream%20says%20no', 'byte for byte as the upstream encoded it');

  const ok = await rawGrpcCall(gw.external, { ':authority': hostOf('open'), ':path': path });
  t.notOk(ok.trailersOnly, 'a normal answer has headers, a message and trailers');
  t.equal(ok.trailers?.['grpc-status'], '0');
  t.ok(ok.body.length >= 5);
});

t.test('RESOURCE_EXHAUSTED after failedAuth.perMinute failures from one address', async (t) => {
  const up = await startGrpcUpstream(t);
  const gw = await startGateway(t, {
    tls: true,
    extra: { failedAuth: { perMinute: 3 } },
    deployments: [{ name: 'iris', access: 'protected', protocol: 'grpc', upstreams: [up.url] }],
  });
  const { secret } = await gw.mint({ user: ['iris'] });
  const bad = echoClient(t, gw.externalPort, hostOf('iris'), { tls: true, token: generateSecret() });
  for (let i = 0; i < 3; i++) t.equal((await unary(bad, { text: 'x' })).code, grpc.status.UNAUTHENTICATED, `failure ${i + 1}: 16`);
  t.equal((await unary(bad, { text: 'x' })).code, grpc.status.RESOURCE_EXHAUSTED, 'then 8');
  const good = echoClient(t, gw.externalPort, hostOf('iris'), { tls: true, token: secret });
  t.equal((await unary(good, { text: 'x' })).code, grpc.status.RESOURCE_EXHAUSTED, 'for every token from that address, until the minute is over');
  t.equal(up.calls.length, 0);
});

t.test('UNAVAILABLE when the token store is down and the token is not cached', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const up = await startGrpcUpstream(t);
  const gw = await startGateway(t, {
    store: { driver: 'redis', url: redis.url },
    deployments: [{ name: 'iris', access: 'protected', protocol: 'grpc', upstreams: [up.url] }],
  });
  const { secret: cached } = await gw.mint({ user: ['iris'] });
  const { secret: uncached } = await gw.mint({ user: ['iris'] });
  const client = echoClient(t, gw.externalPort, hostOf('iris'), { tls: false });
  t.equal((await unary(client, { text: 'x' }, bearer(cached))).code, grpc.status.OK, 'store up: OK (and now cached)');
  await redis.kill();
  const down = await unary(client, { text: 'x' }, bearer(uncached));
  t.equal(down.code, grpc.status.UNAVAILABLE, 'store down, token not cached: 14, not a denial');
  t.equal(down.error?.details, 'the token store is unreachable; retry later');
  t.equal((await unary(client, { text: 'x' }, bearer(cached))).code, grpc.status.OK, 'a cached token still works');
  t.match(gw.logs.find((l) => l.reason === 'store_unavailable'), { protocol: 'grpc', grpc_status: 14 });
});
