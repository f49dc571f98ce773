import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import t from 'tap';
import { hostOf, startGateway, type Teardown } from '../helpers/gateway';
import { get } from '../helpers/http';
import { h2Request } from '../helpers/raw-http';
import { startUpstream, refusingUrl } from '../helpers/upstream';

/** A TCP server whose connections get `onSocket`; closed at teardown. */
async function tcpServer(t: Teardown, onSocket: (socket: net.Socket) => void): Promise<string> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    onSocket(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
}

/** Resolves how a streamed HTTP/1.1 response ended: 'end' (complete) or 'cut', and when. */
function h1Outcome(port: number, host: string): Promise<{ status: number; how: 'end' | 'cut'; ms: number; body: string }> {
  const started = performance.now();
  return new Promise((resolve) => {
    const req = http.get({ port, host: '127.0.0.1', path: '/', headers: { host } }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => { body += c.toString(); });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, how: 'end', ms: performance.now() - started, body }));
      res.on('error', () => undefined);
      res.on('close', () => { if (!res.complete) resolve({ status: res.statusCode ?? 0, how: 'cut', ms: performance.now() - started, body }); });
    });
    req.on('error', () => resolve({ status: 0, how: 'cut', ms: performance.now() - started, body: '' }));
  });
}

function h2Outcome(origin: string, host: string): Promise<{ status: number; how: 'end' | 'cut'; ms: number }> {
  const started = performance.now();
  const session = http2.connect(origin);
  session.on('error', () => undefined);
  return new Promise((resolve) => {
    let status = 0;
    const stream = session.request({ ':path': '/', ':authority': host });
    stream.on('response', (h) => { status = Number(h[':status']); });
    // A reset stream emits 'error' (and may still emit 'end'); rstCode is not reliable on the client side.
    let errored = false;
    stream.on('data', () => undefined);
    stream.on('error', () => { errored = true; });
    stream.on('close', () => {
      const cut = errored || stream.rstCode !== http2.constants.NGHTTP2_NO_ERROR;
      resolve({ status, how: cut ? 'cut' : 'end', ms: performance.now() - started });
      session.close();
    });
  });
}

t.test('upstream failures become 502 / 504 or a cut connection, never a 500 or a hang', async (t) => {
  const silent = await tcpServer(t, () => undefined);
  const garbage = await tcpServer(t, (s) => s.once('data', () => s.end('NOT HTTP AT ALL\r\n\r\n')));
  const reset = await tcpServer(t, (s) => s.once('data', () => s.resetAndDestroy()));
  const stall = await startUpstream(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.write('partial');
  });
  const cutMid = await startUpstream(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '100' });
    res.write('partial');
    setTimeout(() => res.socket?.destroy(), 100);
  });
  const early = await startUpstream(t, (_req, res) => {
    // Answers at once without reading the request body, then drops the connection.
    res.writeHead(413, { 'content-type': 'text/plain', connection: 'close' });
    res.end('too big');
  });
  const gw = await startGateway(t, {
    deployments: [
      { name: 'early', access: 'public', upstreams: [early.url] },
      { name: 'down', access: 'public', upstreams: [await refusingUrl()] },
      // A TLS upstream that never answers the handshake: the connect timeout.
      { name: 'noconnect', access: 'public', upstreams: [`https://${silent}`], timeouts: { connect: '300ms' } },
      { name: 'nohead', access: 'public', upstreams: [`http://${silent}`], timeouts: { response: '300ms' } },
      { name: 'garbage', access: 'public', upstreams: [`http://${garbage}`] },
      { name: 'reset', access: 'public', upstreams: [`http://${reset}`] },
      { name: 'stall', access: 'public', upstreams: [stall.url], timeouts: { idle: '300ms' } },
      { name: 'cutmid', access: 'public', upstreams: [cutMid.url] },
    ],
  });

  const expectations: [string, number, string][] = [
    ['down', 502, 'upstream_unavailable'],
    ['noconnect', 504, 'upstream_timeout'],
    ['nohead', 504, 'upstream_timeout'],
    ['garbage', 502, 'upstream_unavailable'],
    ['reset', 502, 'upstream_unavailable'],
  ];
  for (const [name, status, code] of expectations) {
    t.test(`${name}: ${status}`, async (t) => {
      const started = performance.now();
      const r = await get(gw.external + '/', { host: hostOf(name) });
      const ms = performance.now() - started;
      t.equal(r.status, status, 'HTTP/1.1');
      t.equal(r.headers['content-type'], 'application/json');
      t.equal(r.json().error, code);
      t.equal(r.json().request_id, r.headers['x-request-id']);
      t.ok(ms < 2_000, `answered in ${Math.round(ms)} ms`);
      const h2 = await h2Request(gw.external, { ':authority': hostOf(name) });
      t.equal(h2.status, status, 'HTTP/2');
      t.equal(h2.json().error, code);
      t.ok(gw.logs.some((l) => l.msg === 'request' && l.request_id === r.headers['x-request-id'] && l.reason === code && l.status === status), 'logged with its reason');
    });
  }

  t.test('a body sent to a refusing upstream: 502, nothing crashes', async (t) => {
    const r = await get(gw.external + '/', { host: hostOf('down') }, { method: 'POST', body: 'x'.repeat(4 * 1024 * 1024) });
    t.equal(r.status, 502);
    const again = await get(gw.external + '/', { host: hostOf('down') });
    t.equal(again.status, 502, 'the gateway still answers');
  });

  t.test('an upstream answering before reading the body and closing: 413 or 502, nothing crashes', async (t) => {
    // Closing with unread data makes the upstream's kernel send a reset, which may destroy its
    // answer before the gateway reads it: then 502 is all that can be said.
    const body = 'x'.repeat(8 * 1024 * 1024);
    for (let i = 0; i < 3; i++) {
      const h1 = await get(gw.external + '/', { host: hostOf('early') }, { method: 'POST', body }).catch((err: Error) => err);
      if (!(h1 instanceof Error)) t.ok([413, 502].includes(h1.status), `HTTP/1.1 got ${h1.status}`);
      const h2 = await h2Request(gw.external, { ':authority': hostOf('early') }, body).catch((err: Error) => err);
      if (!(h2 instanceof Error)) t.ok([413, 502].includes(h2.status), `HTTP/2 got ${h2.status}`);
    }
    const after = await get(gw.external + '/', { host: hostOf('early') });
    t.equal(after.status, 413, 'the gateway is still serving');
  });

  t.test('idle timeout mid-body: the client connection is cut, not left hanging', async (t) => {
    const h1 = await h1Outcome(gw.externalPort, hostOf('stall'));
    t.equal(h1.status, 200);
    t.equal(h1.body, 'partial', 'what arrived before the stall was relayed');
    t.equal(h1.how, 'cut', 'HTTP/1.1 response cut, so the client sees it incomplete');
    t.ok(h1.ms < 2_000, `after ${Math.round(h1.ms)} ms`);
    const h2 = await h2Outcome(gw.external, hostOf('stall'));
    t.equal(h2.how, 'cut', 'HTTP/2 stream reset');
    t.ok(h2.ms < 2_000, `after ${Math.round(h2.ms)} ms`);
  });

  t.test('upstream dies mid-body: the client connection is cut', async (t) => {
    const h1 = await h1Outcome(gw.externalPort, hostOf('cutmid'));
    t.equal(h1.how, 'cut');
    const h2 = await h2Outcome(gw.external, hostOf('cutmid'));
    t.equal(h2.how, 'cut');
  });

  t.test('no failure was answered with a 500', async (t) => {
    const statuses = gw.logs.filter((l) => l.msg === 'request').map((l) => l.status);
    t.ok(statuses.length > 10);
    t.notOk(statuses.includes(500), `statuses seen: ${[...new Set(statuses)].join(', ')}`);
  });
});
