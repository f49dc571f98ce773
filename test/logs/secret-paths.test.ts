import type { RequestLogLine } from '../../gateway/log';
import t, { type Test } from 'tap';
import WebSocket from 'ws';
import { generateSecret } from '../../gateway/auth/token-format';
import { hostOf, startGateway, type TestGateway } from '../helpers/gateway';
import { get } from '../helpers/http';
import { h2Request } from '../helpers/raw-http';
import { bearer, echoClient, rawGrpcCall, startGrpcUpstream, unary } from '../helpers/grpc';
import { adminCall } from '../helpers/ops';
import { startRedis } from '../helpers/redis';
import { refusingUrl, startUpstream, startWsUpstream } from '../helpers/upstream';

/** A request line as parsed from stdout: the gateway's own shape plus pino's `msg`. */
type Line = Partial<RequestLogLine> & { msg?: string };

/** Opens a WebSocket and closes it at once; resolves with 101 or the refusal status. */
function wsOnce(port: number, path: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`, { headers });
    ws.once('open', () => {
      ws.once('close', () => resolve(101));
      ws.close();
    });
    ws.once('unexpected-response', (_req, res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    ws.once('error', () => resolve(0));
  });
}

async function lastLine(gw: TestGateway, id: string, msg = 'request'): Promise<void> {
  const deadline = Date.now() + 3_000;
  while (Date.now() < deadline && !gw.logs.some((l) => l.request_id === id && l.msg === msg)) {
    await new Promise((r) => setTimeout(r, 20));
  }
}

function assertNoSecret(t: Test, raw: string, secrets: readonly string[]): void {
  t.ok(raw.length > 0, 'the log was captured');
  for (const secret of secrets) t.notOk(raw.includes(secret.slice(4, 30)), `no trace of ${secret.slice(0, 8)}…`);
  t.notMatch(raw, /gth_[0-9A-Za-z]{8}/, 'nothing that looks like a secret');
  t.notMatch(raw, /bearer\s/i, 'no Authorization value');
}

t.test('a secret sent over any protocol, in any place a client can put it, never reaches the log', async (t) => {
  const up = await startUpstream(t);
  const grpcUp = await startGrpcUpstream(t);
  const { url: wsUp } = await startWsUpstream(t);
  const dead = await refusingUrl();
  const gw = await startGateway(t, {
    deployments: [
      { name: 'guarded', access: 'protected', upstreams: [up.url], forwardAuthorization: true },
      { name: 'open', access: 'public', upstreams: [up.url] },
      { name: 'dead', access: 'protected', upstreams: [dead], forwardAuthorization: true },
      { name: 'rpc', access: 'protected', protocol: 'grpc', upstreams: [grpcUp.url], forwardAuthorization: true },
      { name: 'rpcdead', access: 'protected', protocol: 'grpc', upstreams: [dead], forwardAuthorization: true },
      { name: 'ws', access: 'protected', upstreams: [wsUp], forwardAuthorization: true },
      { name: 'wsdead', access: 'protected', upstreams: [dead] },
    ],
    extra: { failedAuth: { perMinute: 1000 } },
  });
  const valid = await gw.mint({ user: ['*'] });
  const dev = await gw.mint({ developer: true });
  const unknown = generateSecret();
  const secrets = [valid.secret, dev.secret, unknown];
  const expected: { id: string; want: Partial<Line> }[] = [];
  let n = 0;
  const next = (want: Partial<Line>): string => {
    const id = `sp-${++n}`;
    expected.push({ id, want });
    return id;
  };

  // HTTP/1.1: the header, and a secret in the query string (what browser WebSocket clients send).
  for (const [name, auth, path, want] of [
    ['guarded', valid.secret, '/x', { reason: 'token', status: 200, token_id: valid.token.id }],
    ['guarded', unknown, '/x', { reason: 'invalid_token', status: 401 }],
    ['dead', valid.secret, '/x', { reason: 'upstream_unavailable', status: 502, token_id: valid.token.id }],
    ['open', undefined, `/x?access_token=${valid.secret}`, { reason: 'public', status: 200 }],
    ['nowhere', valid.secret, `/x?token=${unknown}`, { reason: 'not_found', status: 404 }],
  ] as const) {
    const id = next({ listener: 'external', deployment: name === 'nowhere' ? undefined : name, ...want });
    const reply = await get(gw.external + path, { host: hostOf(name), 'x-request-id': id, ...(auth ? { authorization: `Bearer ${auth}` } : {}) });
    t.equal(reply.status, want.status, `h1 ${id}`);
  }
  // HTTP/2.
  for (const [auth, want] of [
    [valid.secret, { reason: 'token', status: 200, token_id: valid.token.id }],
    [unknown, { reason: 'invalid_token', status: 401 }],
  ] as const) {
    const id = next({ listener: 'external', deployment: 'guarded', ...want });
    const reply = await h2Request(gw.external, { ':authority': hostOf('guarded'), ':path': `/y?t=${auth}`, 'x-request-id': id, authorization: `Bearer ${auth}` });
    t.equal(reply.status, want.status, `h2 ${id}`);
  }
  // gRPC: metadata, through a real client and raw frames.
  const client = echoClient(t, gw.externalPort, hostOf('rpc'), { tls: false });
  for (const [secret, code] of [[valid.secret, 0], [unknown, 16]] as const) {
    const md = bearer(secret);
    const id = next({ deployment: 'rpc', reason: code === 0 ? 'token' : 'invalid_token', token_id: code === 0 ? valid.token.id : undefined });
    md.set('x-request-id', id);
    t.equal((await unary(client, { text: 'hi' }, md)).code, code, `grpc ${id}`);
  }
  {
    const id = next({ deployment: 'rpcdead', reason: 'upstream_unavailable', token_id: valid.token.id });
    const reply = await rawGrpcCall(gw.external, {
      ':authority': hostOf('rpcdead'), ':path': '/echo.Echo/Unary', authorization: `Bearer ${valid.secret}`, 'x-request-id': id,
    });
    t.equal(reply.headers['grpc-status'], '14', `grpc ${id}`);
  }
  // WebSocket.
  for (const [name, secret, status, want] of [
    ['ws', valid.secret, 101, { reason: 'token', token_id: valid.token.id }],
    ['ws', unknown, 401, { reason: 'invalid_token' }],
    ['wsdead', valid.secret, 502, { reason: 'upstream_unavailable', token_id: valid.token.id }],
  ] as const) {
    const id = next({ deployment: name, status, ...want });
    t.equal(await wsOnce(gw.externalPort, `/chat?access_token=${secret}`, { host: hostOf(name), authorization: `Bearer ${secret}`, 'x-request-id': id }), status, `ws ${id}`);
  }

  // The admin API: a good and a bad caller, a created secret, and a secret pasted into a path.
  const created = await adminCall(gw.admin, dev.secret, 'POST', '/v1/tokens', { name: 'made', user: { deployments: ['guarded'] } });
  t.equal(created.status, 201);
  const made = created.json<{ secret: string }>().secret;
  secrets.push(made);
  t.equal((await adminCall(gw.admin, unknown, 'GET', '/v1/tokens')).status, 401);
  t.equal((await adminCall(gw.admin, dev.secret, 'GET', `/v1/tokens/${made}`)).status, 404);

  await lastLine(gw, `sp-${n}`);
  for (const { id, want } of expected) {
    const lines = (gw.logs as Line[]).filter((l) => l.request_id === id && l.msg === 'request');
    t.equal(lines.length, 1, `${id}: exactly one request line`);
    const line = lines[0] ?? {};
    t.match(line, want, `${id}: fields`);
    t.ok(typeof line.duration_ms === 'number', `${id}: duration`);
    if (want.token_id === undefined) t.notOk(line.token_id, `${id}: no token id`);
  }
  assertNoSecret(t, gw.rawLog(), secrets);
});

t.test('a Redis outage logs its cause without a secret', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const up = await startUpstream(t);
  const gw = await startGateway(t, {
    deployments: [{ name: 'guarded', access: 'protected', upstreams: [up.url] }],
    store: { driver: 'redis', url: redis.url },
  });
  const minted = await gw.mint({ user: ['guarded'] });
  await redis.kill();
  const reply = await get(gw.external + '/', { host: hostOf('guarded'), authorization: `Bearer ${minted.secret}`, 'x-request-id': 'outage-1' });
  t.equal(reply.status, 503);
  await lastLine(gw, 'outage-1');
  t.ok(gw.logs.some((l) => l.request_id === 'outage-1' && l.msg !== 'request' && l.err !== undefined), 'the cause is logged');
  assertNoSecret(t, gw.rawLog(), [minted.secret]);
});
