import http2, { constants, type ClientHttp2Session, type ServerHttp2Stream } from 'node:http2';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { StreamPacer, STREAMS_PER_TURN } from '../../gateway/http/stream-pacer';
import { hostOf, startGateway, type Teardown } from '../helpers/gateway';
import { EMPTY_MESSAGE, startGrpcUpstream, until } from '../helpers/grpc';
import { startUpstream } from '../helpers/upstream';

interface Started {
  readonly path: string;
  readonly turn: number;
  readonly destroyed: boolean;
  readonly inflight: number;
}

/**
 * An HTTP/2 server whose streams go through a pacer to a handler that notes
 * the event-loop turn each one started in (a setImmediate clock) and answers 200.
 */
async function pacedServer(t: Teardown) {
  let turn = 0;
  let ticking = true;
  const tick = (): void => {
    turn++;
    if (ticking) setImmediate(tick);
  };
  setImmediate(tick);
  const started: Started[] = [];
  const counter = { inflight: 0 };
  const pacer = new StreamPacer((stream: ServerHttp2Stream, headers) => {
    started.push({ path: String(headers[':path']), turn, destroyed: stream.destroyed, inflight: counter.inflight });
    if (stream.destroyed) return;
    stream.respond({ ':status': 200 });
    stream.end();
  }, counter);
  const server = http2.createServer();
  server.on('stream', pacer.onStream);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const sessions: ClientHttp2Session[] = [];
  t.teardown(() => {
    ticking = false;
    for (const s of sessions) s.destroy();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const connect = async (): Promise<ClientHttp2Session> => {
    const session = http2.connect(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    sessions.push(session);
    await new Promise((resolve) => session.once('connect', resolve));
    return session;
  };
  return { started, counter, connect };
}

/** Sends `n` GETs at once (one write), returning each one's end. */
function burst(session: ClientHttp2Session, prefix: string, n: number): Promise<number>[] {
  return Array.from({ length: n }, (_, i) => new Promise<number>((resolve) => {
    const req = session.request({ ':path': `/${prefix}${i}` });
    let status = 0;
    req.on('response', (h) => { status = Number(h[':status']); });
    req.on('error', () => resolve(-1));
    req.on('close', () => resolve(status));
    req.resume();
  }));
}

function turnsOf(started: readonly Started[], prefix: string): number[][] {
  const byTurn = new Map<number, number[]>();
  for (const s of started) {
    if (!s.path.startsWith(`/${prefix}`)) continue;
    const list = byTurn.get(s.turn) ?? [];
    list.push(Number(s.path.slice(prefix.length + 1)));
    byTurn.set(s.turn, list);
  }
  return [...byTurn.entries()].sort((a, b) => a[0] - b[0]).map(([, list]) => list);
}

t.test('a burst on one connection starts a few streams per turn, in the order they came', async (t) => {
  const server = await pacedServer(t);
  const session = await server.connect();
  const statuses = await Promise.all(burst(session, 'a', 20));
  t.same(statuses, Array(20).fill(200), 'every stream is answered');
  const turns = turnsOf(server.started, 'a');
  t.ok(turns.length >= Math.ceil(20 / STREAMS_PER_TURN), `spread over ${turns.length} turns`);
  for (const group of turns) t.ok(group.length <= STREAMS_PER_TURN, `${group.length} started in one turn`);
  t.same(turns.flat(), Array.from({ length: 20 }, (_, i) => i), 'in arrival order');
  t.equal(Math.max(...server.started.map((s) => s.inflight)), 20 - STREAMS_PER_TURN - 1, 'waiting streams count as in flight');
  t.equal(server.counter.inflight, 0, 'and stop counting once started');
});

t.test('a backlog longer than the pacer trims at once keeps its order and loses no stream', async (t) => {
  // 600 waiting streams: the started ones are trimmed off the front while later ones still wait.
  const n = 600;
  const server = await pacedServer(t);
  const session = await server.connect();
  const statuses = await Promise.all(burst(session, 'long', n));
  t.same(statuses, Array(n).fill(200), 'every stream is answered');
  const turns = turnsOf(server.started, 'long');
  t.ok(turns.every((group) => group.length <= STREAMS_PER_TURN), `at most ${STREAMS_PER_TURN} per turn over ${turns.length} turns`);
  t.same(turns.flat(), Array.from({ length: n }, (_, i) => i), 'in arrival order');
  t.equal(server.counter.inflight, 0, 'none left counted as waiting');
});

t.test("one connection's backlog does not hold back another connection", async (t) => {
  const server = await pacedServer(t);
  const [a, b] = [await server.connect(), await server.connect()];
  const done = [...burst(a, 'a', 5 * STREAMS_PER_TURN), ...burst(b, 'b', 1)];
  await Promise.all(done);
  const aTurns = server.started.filter((s) => s.path.startsWith('/a')).map((s) => s.turn);
  const bTurn = server.started.find((s) => s.path === '/b0')?.turn ?? Infinity;
  t.ok(bTurn < Math.max(...aTurns), `b started in turn ${bTurn}, before a's last (${Math.max(...aTurns)})`);
});

t.test('streams reset while waiting are still handed over, closed, and the count comes back to 0', async (t) => {
  const server = await pacedServer(t);
  const session = await server.connect();
  const ends = Array.from({ length: 20 }, (_, i) => {
    const req = session.request({ ':path': `/r${i}` });
    req.on('error', () => {});
    req.resume();
    // INTERNAL_ERROR makes Node emit 'error' on the server's stream: unheard while it waits, it would crash.
    if (i >= STREAMS_PER_TURN) req.close(constants.NGHTTP2_INTERNAL_ERROR);
    return new Promise((resolve) => req.on('close', resolve));
  });
  await Promise.all(ends);
  await until(() => server.started.length >= 20);
  t.equal(server.started.length, 20, 'every stream reached the handler');
  t.ok(server.started.slice(STREAMS_PER_TURN).every((s) => s.destroyed), 'the reset ones arrive closed');
  t.equal(server.counter.inflight, 0);
});

t.test('through the gateway: a burst of gRPC calls and HTTP/2 requests on one connection all complete', async (t) => {
  const grpcUpstream = await startGrpcUpstream(t);
  const web = await startUpstream(t);
  const gw = await startGateway(t, {
    deployments: [
      { name: 'model', access: 'public', protocol: 'grpc', upstreams: [grpcUpstream.url] },
      { name: 'web', access: 'public', upstreams: [web.url] },
    ],
  });
  const session = http2.connect(gw.external);
  t.teardown(() => session.destroy());
  const call = (authority: string, grpc: boolean): Promise<string> => new Promise((resolve, reject) => {
    const headers = grpc
      ? { ':method': 'POST', ':path': '/gatehouse.test.Echo/Unary', ':authority': authority, 'content-type': 'application/grpc', te: 'trailers' }
      : { ':path': '/', ':authority': authority };
    const req = session.request(headers);
    let result = '';
    req.on('response', (h) => { result = String(h['grpc-status'] ?? h[':status']); });
    req.on('trailers', (h) => { result = String(h['grpc-status']); });
    req.on('error', reject);
    req.on('close', () => resolve(result));
    req.resume();
    req.end(grpc ? EMPTY_MESSAGE : undefined);
  });
  const results = await Promise.all(Array.from({ length: 100 }, (_, i) => call(hostOf(i % 2 ? 'model' : 'web'), i % 2 === 1)));
  t.same(results, Array.from({ length: 100 }, (_, i) => (i % 2 ? '0' : '200')), 'gRPC status 0 and HTTP 200 for each');
  t.equal(gw.gateway.runtime.inflight, 0);
});
