import * as grpc from '@grpc/grpc-js';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import t from 'tap';
import WebSocket from 'ws';
import { hostOf, startGateway } from '../helpers/gateway';
import { bearer, echoClient, startGrpcUpstream, unary } from '../helpers/grpc';
import { get } from '../helpers/http';
import { h2Request } from '../helpers/raw-http';
import { within } from '../helpers/ops';
import { startRedis } from '../helpers/redis';
import { startUpstream, startWsUpstream } from '../helpers/upstream';

/**
 * Limits on a Redis store, one gateway: the answers (429, Retry-After,
 * RateLimit-Policy, RateLimit; gRPC 8 with retry-after) and the release of a
 * concurrency slot however a request ends.
 */
t.test('limits on HTTP, WebSocket and gRPC', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  // /hold answers only when told to (or never); /cut drops the connection; anything else echoes at once.
  const held: ServerResponse[] = [];
  const up = await startUpstream(t, (req: IncomingMessage, res: ServerResponse) => {
    if (req.url === '/hold') return void held.push(res);
    if (req.url === '/cut') return void req.socket.destroy();
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('ok');
  });
  const ws = await startWsUpstream(t);
  const rpc = await startGrpcUpstream(t);
  const gw = await startGateway(t, {
    store: { driver: 'redis', url: redis.url },
    deployments: [
      { name: 'llm', access: 'protected', upstreams: [up.url], timeouts: { response: '400ms' } },
      { name: 'pool', access: 'protected', upstreams: [up.url], limits: { concurrent: 1 } },
      { name: 'chat', access: 'protected', upstreams: [ws.url] },
      { name: 'iris', access: 'protected', protocol: 'grpc', upstreams: [rpc.url] },
    ],
  });
  const call = (secret: string, path = '/', deployment = 'llm') =>
    get(gw.external + path, { host: hostOf(deployment), authorization: `Bearer ${secret}` });

  await t.test('rate: 6/min admits one at once, then 429 with the fields', async (t) => {
    // One every 10 s, bursts of ⌈6/60⌉ = 1: the second request is refused however slow the machine is.
    const { secret } = await gw.mint({ user: ['llm'], limits: { requests_per_minute: 6 } });
    const first = await call(secret);
    t.equal(first.status, 200);
    t.equal(first.headers['ratelimit-policy'], '"requests";q=6;w=60', 'RateLimit-Policy on an allowed answer');
    t.match(first.headers.ratelimit, /^"requests";r=0;t=(9|10)$/, 'RateLimit on an allowed answer');
    const refused = await call(secret);
    t.equal(refused.status, 429);
    t.equal(refused.json().error, 'rate_limited');
    t.ok(Number(refused.headers['retry-after']) >= 8, 'Retry-After: about the 10 s until the next one');
    t.equal(refused.headers['ratelimit-policy'], '"requests";q=6;w=60');
    t.match(refused.headers.ratelimit, /^"requests";r=0;t=\d+$/);
    const again = await call(secret);
    t.equal(again.status, 429, 'refused again (from this process\'s memory of the exhausted allowance)');
    t.equal(up.requests.filter((r) => r.url === '/').length, 1, 'the refused requests never reached the upstream');
  });

  await t.test('HTTP/2: the same answers', async (t) => {
    const { secret } = await gw.mint({ user: ['llm'], limits: { requests_per_minute: 6 } });
    const ask = () => h2Request(gw.external, { ':authority': hostOf('llm'), authorization: `Bearer ${secret}` });
    const first = await ask();
    t.equal(first.status, 200);
    t.equal(first.headers['ratelimit-policy'], '"requests";q=6;w=60');
    const refused = await ask();
    t.equal(refused.status, 429);
    t.ok(Number(refused.headers['retry-after']) >= 1);
    t.match(refused.headers.ratelimit, /^"requests";r=0;t=\d+$/);
  });

  await t.test('concurrency: the slot is released on success, client abort, upstream error and timeout', async (t) => {
    const { secret } = await gw.mint({ user: ['llm'], limits: { concurrent: 1 } });
    const holding = call(secret, '/hold');
    await within(2000, async () => held.length === 1);
    const busy = await call(secret);
    t.equal(busy.status, 429, 'a second request while one is in flight');
    t.equal(busy.json().error, 'concurrency_limited');
    t.equal(busy.headers['ratelimit-policy'], '"concurrent";q=1;qu="concurrent-requests"');
    t.equal(busy.headers.ratelimit, '"concurrent";r=0');
    held.shift()!.end('done');
    t.equal((await holding).status, 200);
    const next = await call(secret);
    t.equal(next.status, 200, 'free again once it ended');
    t.equal(next.headers.ratelimit, '"concurrent";r=0', 'RateLimit counts the request itself');

    // Client abort: the client goes away while the upstream holds the answer.
    const aborted = http.get(`${gw.external}/hold`, { headers: { host: hostOf('llm'), authorization: `Bearer ${secret}` } });
    aborted.on('error', () => {});
    await within(2000, async () => held.length === 1);
    aborted.destroy();
    t.not(await within(1000, async () => (await call(secret)).status === 200), null, 'released after a client abort');
    held.length = 0;

    t.equal((await call(secret, '/cut')).status, 502, 'upstream error');
    t.equal((await call(secret)).status, 200, 'released after an upstream error');
    t.equal((await call(secret, '/hold')).status, 504, 'upstream timeout');
    t.equal((await call(secret)).status, 200, 'released after a timeout');
  });

  await t.test("a Deployment's limits apply to tokens without their own; a token's own win", async (t) => {
    held.length = 0;
    const plain = await gw.mint({ user: ['pool'] });
    const own = await gw.mint({ user: ['pool'], limits: { concurrent: 2 } });
    const first = call(plain.secret, '/hold', 'pool');
    await within(2000, async () => held.length === 1);
    t.equal((await call(plain.secret, '/', 'pool')).status, 429, "the Deployment's concurrent: 1");
    const owned = [call(own.secret, '/hold', 'pool'), call(own.secret, '/hold', 'pool')];
    t.not(await within(2000, async () => held.length === 3), null, "the token's own concurrent: 2 lets two through");
    t.equal((await call(own.secret, '/', 'pool')).status, 429, 'and refuses a third');
    for (const res of held.splice(0)) res.end('done');
    t.same((await Promise.all([first, ...owned])).map((r) => r.status), [200, 200, 200]);
  });

  await t.test('an open WebSocket holds one slot until it closes', async (t) => {
    const { secret } = await gw.mint({ user: ['chat'], limits: { concurrent: 1 } });
    const url = `ws://127.0.0.1:${gw.externalPort}/`;
    const headers = { host: hostOf('chat'), authorization: `Bearer ${secret}` };
    const socket = new WebSocket(url, { headers });
    const upgrade = new Promise<IncomingMessage>((resolve) => socket.once('upgrade', resolve));
    await new Promise((resolve, reject) => {
      socket.once('open', resolve);
      socket.once('error', reject);
    });
    t.equal((await upgrade).headers.ratelimit, '"concurrent";r=0', 'the 101 carries RateLimit');
    const second = new WebSocket(url, { headers });
    const status = await new Promise<number>((resolve) => {
      second.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      second.once('open', () => resolve(101));
      second.once('error', () => {});
    });
    t.equal(status, 429, 'a second WebSocket is refused while the first is open');
    socket.close();
    await new Promise((resolve) => socket.once('close', resolve));
    t.not(await within(1000, async () => (await call(secret, '/', 'chat')).status !== 429), null, 'free once it closed');
  });

  await t.test('an open gRPC stream holds one slot; over the limit: 8 with retry-after', async (t) => {
    const { secret } = await gw.mint({ user: ['iris'], limits: { concurrent: 1 } });
    const client = echoClient(t, gw.externalPort, hostOf('iris'), { tls: false });
    const stream = client.Bidi(bearer(secret));
    stream.on('error', () => {});
    const reply = new Promise((resolve) => stream.once('data', resolve));
    stream.write({ text: 'hi' });
    await reply;
    const refused = await unary(client, { text: 'x' }, bearer(secret));
    t.equal(refused.code, grpc.status.RESOURCE_EXHAUSTED);
    t.equal(refused.trailers?.get('ratelimit')[0], '"concurrent";r=0', 'RateLimit in the refusal');
    t.ok(Number(refused.trailers?.get('retry-after')[0]) >= 1, 'retry-after metadata');
    stream.end();
    await new Promise((resolve) => stream.once('status', resolve));
    let ok: Awaited<ReturnType<typeof unary>> | undefined;
    t.not(await within(1000, async () => (ok = await unary(client, { text: 'x' }, bearer(secret))).code === grpc.status.OK), null, 'free once the stream ended');
    t.equal(ok?.headers?.get('ratelimit-policy')[0], '"concurrent";q=1;qu="concurrent-requests"', 'an allowed call carries the fields in its response metadata');
    t.equal(ok?.headers?.get('ratelimit')[0], '"concurrent";r=0');
  });
});
