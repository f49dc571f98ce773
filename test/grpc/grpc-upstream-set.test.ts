import http2, { type Http2Session } from 'node:http2';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { GrpcUpstreamSet } from '../../gateway/grpc/grpc-upstream-set';
import type { Teardown } from '../helpers/gateway';

const TIMEOUTS = { connect: 1_000, response: 5_000, idle: 60_000 };

/** A bare HTTP/2 server; `sessions` are its server-side sessions, newest last. */
async function h2Server(t: Teardown): Promise<{ url: string; sessions: Http2Session[] }> {
  const server = http2.createServer();
  const sessions: Http2Session[] = [];
  server.on('session', (s) => sessions.push(s));
  server.on('stream', (stream) => { stream.respond({ ':status': 200 }); stream.end(); });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const s of sessions) s.destroy();
    server.close();
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, sessions };
}

function connected(session: http2.ClientHttp2Session): Promise<void> {
  return new Promise((resolve) => (session.connecting ? session.once('connect', () => resolve()) : resolve()));
}

t.test('round robin, skipping upstreams that just failed to connect', async (t) => {
  const set = new GrpcUpstreamSet(['http://127.0.0.1:1', 'http://127.0.0.1:2', 'http://127.0.0.1:3'], TIMEOUTS);
  t.same([set.pick(), set.pick(), set.pick(), set.pick()], [0, 1, 2, 0]);
  set.markDown(2);
  t.same([set.pick(), set.pick(), set.pick()], [1, 0, 1], 'a down upstream is passed over');
  set.markDown(0);
  set.markDown(1);
  t.equal(new Set([set.pick(), set.pick(), set.pick()]).size, 3, 'all down: round robin over all of them');
  set.markUp(2);
  t.same([set.pick(), set.pick()], [2, 2], 'an upstream that answers again is back');
});

t.test('one pooled session per upstream, replaced after GOAWAY, close or retirement', async (t) => {
  const server = await h2Server(t);
  const set = new GrpcUpstreamSet([server.url], TIMEOUTS);
  t.teardown(() => set.destroy());

  const first = set.session(0);
  t.equal(set.session(0), first, 'calls share the session');
  await connected(first);

  const away = new Promise((resolve) => first.once('goaway', resolve));
  server.sessions[0].goaway();
  await away;
  const second = set.session(0);
  t.not(second, first, 'a session that got GOAWAY takes no new calls');
  await connected(second);

  const gone = new Promise((resolve) => second.once('close', resolve));
  server.sessions[1].destroy();
  await gone;
  const third = set.session(0);
  t.not(third, second, 'a closed session is replaced');

  set.retire(0, third);
  t.ok(third.closed, 'a retired session is closed');
  t.not(set.session(0), third, 'and replaced');
});
