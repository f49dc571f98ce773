import * as grpc from '@grpc/grpc-js';
import { connect } from 'node:http2';
import t from 'tap';
import WebSocket from 'ws';
import { hostOf, startGateway } from '../helpers/gateway';
import { bearer, echoClient, startGrpcUpstream, unary } from '../helpers/grpc';
import { get } from '../helpers/http';
import { adminCall, within } from '../helpers/ops';
import { startRedis } from '../helpers/redis';
import { startUpstream, startWsUpstream } from '../helpers/upstream';

/** SPEC §6: every answered request counts once, within 5 seconds. */
const COUNTED_WITHIN_MS = 5_000;
const ANSWER = 'x'.repeat(500);

interface Totals { requests: number; bytes_in: number; bytes_out: number }
interface Usage extends Totals { token_id: string; since: string; by_status: Record<string, Totals>; by_listener: Record<string, Totals> }

/** One HTTP/2 (h2c) request: the body of the answer. */
async function h2Post(origin: string, host: string, secret: string, body: string): Promise<number> {
  const session = connect(origin);
  try {
    return await new Promise<number>((resolve, reject) => {
      const req = session.request({ ':method': 'POST', ':path': '/h2', ':authority': host, authorization: `Bearer ${secret}` });
      req.on('response', (headers) => { req.resume(); req.on('end', () => resolve(Number(headers[':status']))); });
      req.on('error', reject);
      req.end(body);
    });
  } finally {
    session.close();
  }
}

t.test('usage: summed over two replicas, by status class and listener, with bytes, and no store write per request', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const up = await startUpstream(t, (req, res) => {
    req.resume();
    req.on('end', () => res.end(ANSWER));
  });
  const rpc = await startGrpcUpstream(t);
  const chat = await startWsUpstream(t);
  const options = {
    store: { driver: 'redis' as const, url: redis.url },
    deployments: [
      { name: 'guarded', access: 'protected' as const, upstreams: [up.url] },
      { name: 'other', access: 'protected' as const, upstreams: [up.url] },
      { name: 'iris', access: 'protected' as const, protocol: 'grpc' as const, upstreams: [rpc.url] },
      { name: 'chat', access: 'protected' as const, upstreams: [chat.url] },
    ],
  };
  const a = await startGateway(t, options);
  const b = await startGateway(t, options);
  const dev = await a.mint({ developer: true });
  const caller = await a.mint({ user: ['guarded', 'iris', 'chat'], developer: true });
  const bystander = await a.mint({ user: ['guarded'] });
  const api = (path: string) => adminCall(a.admin, dev.secret, 'GET', path);
  const send = (gw: typeof a, host: string, secret: string, body?: string) =>
    get(gw.external + '/x', { host, authorization: `Bearer ${secret}` }, body === undefined ? {} : { method: 'POST', body });

  const before = await redis.commandStats();
  for (let i = 0; i < 20; i++) t.equal((await send(a, hostOf('guarded'), caller.secret, 'y'.repeat(100))).status, 200);
  for (let i = 0; i < 20; i++) t.equal((await send(b, hostOf('guarded'), caller.secret)).status, 200);
  const burst = await redis.commandStats();
  // At most one script call per replica per flush (3 counters and an expiry for this one kind of request, counted inside it).
  const burstWrites = ['hincrby', 'expire', 'eval', 'evalsha', 'set', 'hset'].reduce((n, c) => n + (burst.get(c) ?? 0) - (before.get(c) ?? 0), 0);
  t.ok(burstWrites < 40, `${burstWrites} store writes for 40 requests: counts go in batches`);
  t.equal((await send(b, hostOf('other'), caller.secret)).status, 403, 'refused with a known token: counted as 4xx');
  t.equal((await send(b, hostOf('guarded'), bystander.secret)).status, 200, 'another token');
  t.equal(await h2Post(a.external, hostOf('guarded'), caller.secret, 'z'.repeat(50)), 200);
  const client = echoClient(t, b.externalPort, hostOf('iris'), { tls: false });
  t.equal((await unary(client, { text: 'hello' }, bearer(caller.secret))).code, grpc.status.OK);
  t.equal((await adminCall(b.admin, caller.secret, 'GET', '/v1/whoami')).status, 200, 'the admin listener counts too');
  const ws = new WebSocket(`ws://127.0.0.1:${a.externalPort}/chat`, { headers: { host: hostOf('chat'), authorization: `Bearer ${caller.secret}` } });
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  const echoed = new Promise((resolve) => ws.once('message', resolve));
  ws.send('w'.repeat(200));
  await echoed;
  ws.close();
  await new Promise((resolve) => ws.once('close', resolve));

  const expected = {
    requests: 45,
    by_status: { '1xx': 1, '2xx': 43, '4xx': 1 },
    by_listener: { external: 44, admin: 1 },
  };
  let usage: Usage | undefined;
  const took = await within(COUNTED_WITHIN_MS + 2_000, async () => {
    usage = (await api(`/v1/tokens/${caller.token.id}/usage`)).json<{ usage: Usage }>().usage;
    return usage.requests === expected.requests;
  });
  t.ok(took !== null && took <= COUNTED_WITHIN_MS, `every request counted within ${String(took)} ms`);
  if (usage === undefined) return;
  t.equal(usage.token_id, caller.token.id);
  t.same(Object.fromEntries(Object.entries(usage.by_status).map(([k, v]) => [k, v.requests])), expected.by_status);
  t.same(Object.fromEntries(Object.entries(usage.by_listener).map(([k, v]) => [k, v.requests])), expected.by_listener);
  t.ok(usage.bytes_in >= 20 * 100 + 50 + 200 && usage.bytes_in < 20 * 100 + 50 + 200 + 100, `request bodies (HTTP/1, HTTP/2, gRPC, WebSocket): ${usage.bytes_in} bytes in`);
  t.ok(usage.by_status['1xx'].bytes_out >= 200, 'the WebSocket: what the upstream sent back');
  t.ok(usage.bytes_out >= 41 * ANSWER.length, `response bodies: ${usage.bytes_out} bytes out`);
  t.equal(usage.by_status['4xx'].bytes_out, 0, 'a refusal forwards nothing');
  const since = Date.parse(usage.since);
  t.ok(Math.abs(since - (Date.now() - 86_400_000)) < 120_000, 'the default window is the last 24 hours');

  const other = (await api(`/v1/tokens/${bystander.token.id}/usage`)).json<{ usage: Usage }>().usage;
  t.equal(other.requests, 1, 'each token its own');

  const later = (await api(`/v1/tokens/${caller.token.id}/usage?since=${encodeURIComponent(new Date(Date.now() + 60_000 - (Date.now() % 60_000)).toISOString().replace(/\.\d+Z$/, 'Z'))}`));
  t.equal(later.status, 400, 'a since in the future is refused');
  t.equal((await api(`/v1/tokens/${caller.token.id}/usage?since=5m`)).json<{ usage: Usage }>().usage.requests, 45, 'since as a duration back from now');
  const explicit = (await api(`/v1/tokens/${caller.token.id}/usage?since=2000-01-01T00:00:00Z`)).json<{ usage: Usage }>().usage;
  t.equal(explicit.requests, 45, 'since before the retention: the whole retention');
  t.ok(Date.parse(explicit.since) > Date.parse('2000-01-02T00:00:00Z'), 'and the answer says where it starts');
  for (const bad of ['yesterday', '2026-13-45T00:00:00Z', '1700000000']) {
    const res = await api(`/v1/tokens/${caller.token.id}/usage?since=${bad}`);
    t.equal(res.status, 400, `since=${bad}`);
    t.equal(res.json().field, 'since');
  }
  t.equal((await api('/v1/tokens/tok_nope/usage')).status, 404);

  const metrics = (await get(a.admin + '/metrics')).text + (await get(b.admin + '/metrics')).text;
  t.notOk(metrics.includes(caller.token.id), '/metrics has no per-token label');
});
