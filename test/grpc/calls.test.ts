import * as grpc from '@grpc/grpc-js';
import { readFileSync, writeFileSync } from 'node:fs';
import t from 'tap';
import { hostOf, startGateway } from '../helpers/gateway';
import { bearer, drain, echoClient, startGrpcUpstream, unary, type EchoReply } from '../helpers/grpc';

t.test('all four call kinds through a protected Deployment over TLS, with call credentials', async (t) => {
  const up = await startGrpcUpstream(t);
  const gw = await startGateway(t, { tls: true, deployments: [{ name: 'iris', access: 'protected', protocol: 'grpc', upstreams: [up.url] }] });
  const { secret, token } = await gw.mint({ user: ['iris'] });
  const client = echoClient(t, gw.externalPort, hostOf('iris'), { tls: true, token: secret });

  const one = await unary(client, { text: 'hello' });
  t.equal(one.code, grpc.status.OK, 'unary');
  t.equal(one.reply?.text, 'hello');
  t.same(one.headers?.get('x-upstream'), ['echo'], 'response metadata is relayed');
  t.same(one.trailers?.get('x-trailer'), ['done'], 'trailing metadata is relayed');
  t.match(one.headers?.get('x-request-id')[0], /^[0-9a-f-]{36}$/, 'the response carries the request id');

  const upload = await new Promise<{ err: grpc.ServiceError | null; reply?: EchoReply }>((resolve) => {
    const call = client.ClientStream(new grpc.Metadata(), {}, (err, reply) => resolve({ err, reply }));
    for (const text of ['a', 'b', 'c']) call.write({ text });
    call.end();
  });
  t.equal(upload.err, null, 'client streaming');
  t.equal(upload.reply?.text, 'a,b,c');

  const down = await drain(client.ServerStream({ text: 's', count: 5, size: 10 }, new grpc.Metadata()));
  t.equal(down.code, grpc.status.OK, 'server streaming');
  t.same(down.items.map((r) => r.index), [0, 1, 2, 3, 4]);
  t.same(down.trailers.get('x-trailer'), ['done']);

  const chat = client.Bidi(new grpc.Metadata());
  const answers: string[] = [];
  const chatDone = drain(chat);
  for (const text of ['ping', 'pong', 'pang']) {
    const answered = new Promise<void>((resolve) => chat.once('data', (r: EchoReply) => { answers.push(r.text); resolve(); }));
    chat.write({ text });
    await answered;
  }
  chat.end();
  t.equal((await chatDone).code, grpc.status.OK, 'bidi streaming, one answer per message');
  t.same(answers, ['ping', 'pong', 'pang']);

  t.equal(up.calls.length, 4);
  for (const call of up.calls) {
    t.notOk(call.metadata.authorization, `${call.method}: the upstream never sees the token`);
    t.equal(call.metadata['x-gatehouse-token-id'], token.id, `${call.method}: the upstream learns the token id`);
    t.equal(call.metadata['x-forwarded-proto'], 'https');
    t.equal(call.metadata['x-forwarded-host'], hostOf('iris'));
    t.equal(call.metadata['x-forwarded-for'], '127.0.0.1');
    t.match(call.metadata['x-request-id'], /^[0-9a-f-]{36}$/);
  }

  const lines = gw.logs.filter((l) => l.protocol === 'grpc');
  t.equal(lines.length, 4, 'one log line per call');
  t.match(lines[0], { grpc_method: '/gatehouse.test.Echo/Unary', grpc_status: 0, status: 200, reason: 'token', token_id: token.id, deployment: 'iris', listener: 'external' });
  t.notMatch(gw.rawLog(), secret, 'the secret is never logged');
});

t.test('public Deployments need no token; client metadata cannot forge gateway headers', async (t) => {
  const up = await startGrpcUpstream(t);
  const gw = await startGateway(t, { tls: true, deployments: [{ name: 'open', access: 'public', protocol: 'grpc', upstreams: [up.url] }] });
  const client = echoClient(t, gw.externalPort, hostOf('open'), { tls: true });
  const forged = new grpc.Metadata();
  forged.set('x-gatehouse-token-id', 'forged');
  forged.set('x_gatehouse_token_id', 'forged');
  forged.set('x.gatehouse.token-id', 'forged');
  forged.set('x-forwarded-for', '10.0.0.1');
  forged.set('x-request-id', 'my-call-1');
  forged.set('x-custom', 'kept');

  const res = await unary(client, { text: 'hi' }, forged);
  t.equal(res.code, grpc.status.OK);
  const seen = up.calls[0].metadata;
  t.same(Object.keys(seen).filter((k) => k.replace(/[_.]/g, '-').startsWith('x-gatehouse-')), [], 'no x-gatehouse-* header of any spelling reaches the upstream');
  t.equal(seen['x-forwarded-for'], '127.0.0.1', 'a client X-Forwarded-For is replaced');
  t.equal(seen['x-request-id'], 'my-call-1', 'a well-formed request id is kept');
  t.equal(seen['x-custom'], 'kept', 'other metadata passes');
  t.same(res.headers?.get('x-request-id'), ['my-call-1']);
  t.match(gw.logs.find((l) => l.protocol === 'grpc'), { request_id: 'my-call-1', reason: 'public', token_id: undefined });
});

t.test('h2c: insecure channel, token as call metadata; internal listener reaches private Deployments', async (t) => {
  const up = await startGrpcUpstream(t);
  const gw = await startGateway(t, {
    deployments: [
      { name: 'iris', access: 'protected', protocol: 'grpc', upstreams: [up.url] },
      { name: 'vault', access: 'private', protocol: 'grpc', upstreams: [up.url] },
    ],
  });
  const { secret } = await gw.mint({ user: ['iris'] });

  const external = echoClient(t, gw.externalPort, hostOf('iris'), { tls: false });
  t.equal((await unary(external, { text: 'x' }, bearer(secret))).code, grpc.status.OK, 'h2c with the token in metadata');
  t.equal((await unary(external, { text: 'x' })).code, grpc.status.UNAUTHENTICATED, 'h2c without a token');
  const seenH2c = up.calls[0].metadata;
  t.equal(seenH2c['x-forwarded-proto'], 'http');

  const internal = echoClient(t, gw.internalPort, hostOf('vault'), { tls: false });
  const res = await unary(internal, { text: 'inside' });
  t.equal(res.code, grpc.status.OK, 'internal listener: private Deployment, no token');
  t.equal(res.reply?.text, 'inside');
  const down = await drain(internal.ServerStream({ count: 3, size: 1 }, new grpc.Metadata()));
  t.equal(down.items.length, 3);
});

t.test('forwardAuthorization keeps the token; round robin spreads calls over upstreams', async (t) => {
  const a = await startGrpcUpstream(t, { name: 'a' });
  const b = await startGrpcUpstream(t, { name: 'b' });
  const gw = await startGateway(t, {
    tls: true,
    deployments: [{ name: 'iris', access: 'protected', protocol: 'grpc', upstreams: [a.url, b.url], forwardAuthorization: true }],
  });
  const { secret } = await gw.mint({ user: ['iris'] });
  const client = echoClient(t, gw.externalPort, hostOf('iris'), { tls: true, token: secret });
  const answered: string[] = [];
  for (let i = 0; i < 4; i++) answered.push((await unary(client, { text: String(i) })).reply?.upstream ?? '');
  t.same(answered.sort(), ['a', 'a', 'b', 'b'], 'calls alternate between upstreams');
  t.equal(a.calls[0].metadata.authorization, `Bearer ${secret}`, 'forwardAuthorization: true passes the token on');
});

t.test('an upstream trailers-only answer stays trailers-only', async (t) => {
  const up = await startGrpcUpstream(t);
  const gw = await startGateway(t, { tls: true, deployments: [{ name: 'open', access: 'public', protocol: 'grpc', upstreams: [up.url] }] });
  const client = echoClient(t, gw.externalPort, hostOf('open'), { tls: true });
  const res = await unary(client, { failCode: grpc.status.NOT_FOUND });
  t.equal(res.code, grpc.status.NOT_FOUND, 'the upstream status reaches the client');
  t.equal(res.error?.details, 'upstream says no');
  t.match(gw.logs.find((l) => l.protocol === 'grpc'), { grpc_status: grpc.status.NOT_FOUND, reason: 'public' });
});

t.test('a reload that changes the upstreams moves new calls and closes the old sessions', async (t) => {
  const a = await startGrpcUpstream(t, { name: 'a' });
  const b = await startGrpcUpstream(t, { name: 'b' });
  const gw = await startGateway(t, { deployments: [{ name: 'open', access: 'public', protocol: 'grpc', upstreams: [a.url] }] });
  const client = echoClient(t, gw.externalPort, hostOf('open'), { tls: false });
  t.equal((await unary(client, { text: 'x' })).reply?.upstream, 'a');
  const before = gw.gateway.runtime.routes.get('open')?.grpcUpstreams;
  const session = before?.session(0);

  writeFileSync(gw.file, readFileSync(gw.file, 'utf8').replace(a.url, b.url));
  await gw.gateway.reload();
  t.equal((await unary(client, { text: 'x' })).reply?.upstream, 'b', 'new calls go to the new upstream');
  t.ok(session?.closed, 'the old upstream session was closed');

  const kept = gw.gateway.runtime.routes.get('open')?.grpcUpstreams;
  await gw.gateway.reload();
  t.equal(gw.gateway.runtime.routes.get('open')?.grpcUpstreams, kept, 'an unchanged Deployment keeps its pool (and warm session)');
});
