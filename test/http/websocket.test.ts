import http from 'node:http';
import net from 'node:net';
import t from 'tap';
import { refusingUrl, startWsUpstream } from '../helpers/upstream';
import WebSocket from 'ws';
import { hostOf, startGateway, type Teardown } from '../helpers/gateway';
import { get } from '../helpers/http';

interface WsUpstream {
  readonly url: string;
  /** Handshake headers of every connection the upstream accepted. */
  readonly handshakes: http.IncomingHttpHeaders[];
  /** WebSockets the upstream has open now. */
  openCount(): number;
}

/** A WebSocket echo upstream; a message "die" makes it drop the TCP connection. */
async function wsUpstream(t: Teardown): Promise<WsUpstream> {
  const handshakes: http.IncomingHttpHeaders[] = [];
  const { url, wss } = await startWsUpstream(t, (socket, req) => {
    handshakes.push(req.headers);
    socket.on('message', (data, isBinary) => {
      if (data.toString() === 'die') return void req.socket.destroy();
      socket.send(data, { binary: isBinary });
    });
  });
  return { url, handshakes, openCount: () => wss.clients.size };
}

/** Opens a WebSocket through the gateway; resolves with it once open, or with the refusal status. */
function open(port: number, host: string, headers: Record<string, string> = {}): Promise<WebSocket | { status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/chat`, { headers: { host, ...headers } });
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => { body += c.toString(); });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    ws.once('error', reject);
  });
}

function echo(ws: WebSocket, message: string): Promise<string> {
  return new Promise((resolve) => {
    ws.once('message', (data) => resolve(data.toString()));
    ws.send(message);
  });
}

/** An upstream that accepts connections and never says a word. */
async function silentUrl(t: Teardown): Promise<string> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => { sockets.add(socket); socket.on('error', () => undefined); });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const socket of sockets) socket.destroy();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
}

t.test('WebSocket upgrades through the gateway', async (t) => {
  const up = await wsUpstream(t);
  const gw = await startGateway(t, {
    deployments: [
      { name: 'chat', access: 'public', upstreams: [up.url] },
      { name: 'secure', access: 'protected', upstreams: [up.url] },
      { name: 'hidden', access: 'private', upstreams: [up.url] },
      { name: 'gone', access: 'public', upstreams: [await refusingUrl()] },
      { name: 'mute', access: 'public', upstreams: [await silentUrl(t)], timeouts: { connect: '200ms', response: '300ms' } },
    ],
  });
  const { secret, token } = await gw.mint({ user: ['secure'] });

  t.test('public route: echo both ways, text and binary', async (t) => {
    const ws = await open(gw.externalPort, hostOf('chat'));
    if (!(ws instanceof WebSocket)) return t.fail(`refused with ${ws.status}`);
    t.equal(await echo(ws, 'hello'), 'hello');
    const big = 'y'.repeat(1024 * 1024);
    t.equal(await echo(ws, big), big, 'a 1 MiB message');
    ws.close();
    const h = up.handshakes[up.handshakes.length - 1];
    t.equal(h['x-forwarded-for'], '127.0.0.1');
    t.equal(h['x-forwarded-host'], hostOf('chat'));
    t.match(h['x-request-id'], /\S/);
    t.notOk(h['x-gatehouse-token-id']);
  });

  t.test('protected route: 401 without a token, open with one; headers as for HTTP', async (t) => {
    const none = await open(gw.externalPort, hostOf('secure'));
    t.notOk(none instanceof WebSocket, 'no upgrade without a token');
    if (!(none instanceof WebSocket)) {
      t.equal(none.status, 401);
      t.equal((JSON.parse(none.body) as { error: string }).error, 'missing_token');
    }
    const bad = await open(gw.externalPort, hostOf('secure'), { authorization: 'Bearer gth_0000000000000000000000000000000000aa' });
    t.notOk(bad instanceof WebSocket);
    if (!(bad instanceof WebSocket)) t.equal(bad.status, 401);

    const before = up.handshakes.length;
    const ws = await open(gw.externalPort, hostOf('secure'), {
      authorization: `Bearer ${secret}`, 'x-request-id': 'ws-req-1', 'x-forwarded-for': '6.6.6.6', 'X-Gatehouse-Token-Id': 'spoof',
    });
    if (!(ws instanceof WebSocket)) return t.fail(`refused with ${ws.status}`);
    t.equal(await echo(ws, 'secret stuff'), 'secret stuff');
    ws.close();
    t.equal(up.handshakes.length, before + 1, 'only the authorized handshake reached the upstream');
    const h = up.handshakes[before];
    t.notOk(h.authorization, 'Authorization removed');
    t.equal(h['x-gatehouse-token-id'], token.id, 'token id set, the spoofed one dropped');
    t.equal(h['x-request-id'], 'ws-req-1');
    t.equal(h['x-forwarded-for'], '127.0.0.1', 'client X-Forwarded-For replaced');
    t.equal(h.upgrade?.toLowerCase(), 'websocket', 'the handshake itself reaches the upstream');
  });

  t.test('private route: 404 on external, open on internal', async (t) => {
    const ext = await open(gw.externalPort, hostOf('hidden'));
    t.notOk(ext instanceof WebSocket);
    if (!(ext instanceof WebSocket)) t.equal(ext.status, 404);
    const int = await open(gw.internalPort, hostOf('hidden'));
    t.ok(int instanceof WebSocket);
    if (int instanceof WebSocket) int.close();
  });

  t.test('upstream refusing: 502, the process stays up', async (t) => {
    const r = await open(gw.externalPort, hostOf('gone'));
    t.notOk(r instanceof WebSocket);
    if (!(r instanceof WebSocket)) {
      t.equal(r.status, 502);
      t.equal((JSON.parse(r.body) as { error: string }).error, 'upstream_unavailable', 'the JSON error body');
    }
    // The line is written when the connection closes, which may be just after the client read the answer.
    const logged = (): boolean => gw.logs.some((l) => l.msg === 'request' && l.protocol === 'websocket' && l.status === 502 && l.reason === 'upstream_unavailable');
    for (let i = 0; i < 50 && !logged(); i++) await new Promise((resolve) => setTimeout(resolve, 20));
    t.ok(logged(), 'logged as 502');
    const still = await get(gw.external + '/', { host: hostOf('chat') });
    t.equal(still.status, 426, 'plain HTTP still served');
  });

  t.test('upstream never answering the handshake: 504 within the response timeout', async (t) => {
    const started = performance.now();
    const r = await open(gw.externalPort, hostOf('mute'));
    const ms = performance.now() - started;
    t.notOk(r instanceof WebSocket);
    if (!(r instanceof WebSocket)) t.equal(r.status, 504);
    t.ok(ms < 2_000, `answered after ${Math.round(ms)} ms`);
  });

  t.test('upstream dropping an open WebSocket: the client sees it close, the process stays up', async (t) => {
    const ws = await open(gw.externalPort, hostOf('chat'));
    if (!(ws instanceof WebSocket)) return t.fail(`refused with ${ws.status}`);
    const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
    ws.on('error', () => undefined);
    ws.send('die');
    t.equal(await closed, 1006, 'abnormal closure reaches the client');
    const again = await open(gw.externalPort, hostOf('chat'));
    t.ok(again instanceof WebSocket, 'new WebSockets still open');
    if (again instanceof WebSocket) again.close();
  });

  t.test('client dropping an open WebSocket closes the upstream side', async (t) => {
    const ws = await open(gw.externalPort, hostOf('chat'));
    if (!(ws instanceof WebSocket)) return t.fail(`refused with ${ws.status}`);
    t.equal(await echo(ws, 'x'), 'x');
    t.ok(up.openCount() >= 1);
    ws.terminate();
    const deadline = Date.now() + 2_000;
    while (Date.now() < deadline && up.openCount() > 0) await new Promise((r) => setTimeout(r, 20));
    t.equal(up.openCount(), 0, 'the upstream side was closed too');
    t.ok(gw.logs.some((l) => l.msg === 'request' && l.protocol === 'websocket' && l.status === 101), 'the WebSocket is logged with 101');
  });
});
