import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import t from 'tap';
import WebSocket, { WebSocketServer } from 'ws';
import { hostOf, startGateway, type Teardown } from '../helpers/gateway';
import { until } from '../helpers/grpc';
import { startRedis } from '../helpers/redis';

const HANDSHAKE = 'Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n';

/**
 * A WebSocket upstream: `/no` refuses with a 403 JSON answer, `/slow`
 * accepts after 300 ms; it speaks `chat.v2` when offered, echoes messages,
 * closes with 4001 on "bye", and records the close codes it gets.
 */
async function wsUpstream(t: Teardown): Promise<{ url: string; closeCodes: number[]; sockets: () => number }> {
  const server = http.createServer((_req, res) => res.writeHead(426).end());
  const wss = new WebSocketServer({ noServer: true, handleProtocols: (offered) => (offered.has('chat.v2') ? 'chat.v2' : false) });
  const closeCodes: number[] = [];
  let sockets = 0;
  server.on('connection', (socket) => {
    sockets++;
    socket.once('close', () => sockets--);
  });
  server.on('upgrade', (req, socket, head) => {
    if (req.url === '/no') return void socket.end('HTTP/1.1 403 Forbidden\r\ncontent-type: application/json\r\ncontent-length: 16\r\n\r\n{"error":"nope"}');
    const accept = (): void => {
      if (socket.destroyed) return;
      wss.handleUpgrade(req, socket, head, (ws) => {
        ws.on('message', (data, isBinary) => (data.toString() === 'bye' ? ws.close(4001, 'done') : ws.send(data, { binary: isBinary })));
        ws.on('close', (code) => closeCodes.push(code));
      });
    };
    if (req.url === '/slow') setTimeout(accept, 300);
    else accept();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const client of wss.clients) client.terminate();
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, closeCodes, sockets: () => sockets };
}

t.test('WebSocket details pass through: subprotocol, large frames, ping/pong, close codes both ways', async (t) => {
  const up = await wsUpstream(t);
  const gw = await startGateway(t, { deployments: [{ name: 'chat', access: 'public', upstreams: [up.url] }] });
  const ws = new WebSocket(`ws://127.0.0.1:${gw.externalPort}/`, ['chat.v1', 'chat.v2'], { headers: { host: hostOf('chat') } });
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
  t.equal(ws.protocol, 'chat.v2', 'the upstream\'s subprotocol choice reaches the client');
  const big = Buffer.alloc(4 * 1024 * 1024, 7);
  const echoed = await new Promise<Buffer>((resolve) => { ws.once('message', (data) => resolve(data as Buffer)); ws.send(big); });
  t.ok(echoed.equals(big), 'a 4 MiB frame both ways');
  const pong = await new Promise<Buffer>((resolve) => { ws.once('pong', resolve); ws.ping('are you there'); });
  t.equal(pong.toString(), 'are you there', 'ping answered by the upstream\'s pong');
  const closed = await new Promise<[number, string]>((resolve) => { ws.once('close', (code, reason) => resolve([code, reason.toString()])); ws.send('bye'); });
  t.same(closed, [4001, 'done'], 'the upstream\'s close code and reason');

  const other = new WebSocket(`ws://127.0.0.1:${gw.externalPort}/`, { headers: { host: hostOf('chat') } });
  await new Promise((resolve) => other.once('open', resolve));
  other.close(4002, 'client leaves');
  await until(() => up.closeCodes.length === 2);
  t.same(up.closeCodes, [4001, 4002], 'the client\'s close code reaches the upstream');
});

t.test('the log line of a WebSocket handshake says what the client got', async (t) => {
  const up = await wsUpstream(t);
  const gw = await startGateway(t, { deployments: [{ name: 'chat', access: 'public', upstreams: [up.url] }] });
  const lines = (): Record<string, unknown>[] => gw.logs.filter((l) => l.protocol === 'websocket');

  const refused = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${gw.externalPort}/no`, { headers: { host: hostOf('chat') } });
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => { body += c.toString(); });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    ws.once('error', reject);
  });
  t.same(refused, { status: 403, body: '{"error":"nope"}' }, 'an upstream refusing the upgrade: its answer reaches the client as a normal response');
  await until(() => lines().length === 1);
  t.match(lines()[0], { status: 403, reason: 'public', path: '/no' }, 'logged with the upstream\'s status, not 101');

  // A client that gives up while the upstream has not yet answered the handshake.
  const client = net.connect(gw.externalPort, '127.0.0.1');
  client.on('error', () => undefined);
  client.write(`GET /slow HTTP/1.1\r\nHost: ${hostOf('chat')}\r\n${HANDSHAKE}`);
  await until(() => up.sockets() === 1);
  client.destroy();
  await until(() => lines().length === 2);
  t.match(lines()[1], { status: 0, reason: 'client_aborted', path: '/slow' }, 'no 101 went out: logged as the client\'s abort');
  await until(() => up.sockets() === 0);
  t.equal(gw.gateway.runtime.inflight, 0, 'the upstream connection is closed and nothing is left in flight');
});

t.test('a client leaving while its token is looked up still gets a log line', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const up = await wsUpstream(t);
  const gw = await startGateway(t, {
    store: { driver: 'redis', url: redis.url },
    deployments: [{ name: 'chat', access: 'protected', upstreams: [up.url] }],
  });
  const { secret } = await gw.mint({ user: ['chat'] });
  redis.pause();
  t.teardown(() => redis.resume());
  const client = net.connect(gw.externalPort, '127.0.0.1');
  client.on('error', () => undefined);
  client.write(`GET /ws HTTP/1.1\r\nHost: ${hostOf('chat')}\r\nAuthorization: Bearer ${secret}\r\n${HANDSHAKE}`);
  await new Promise((resolve) => setTimeout(resolve, 100));
  client.destroy();
  await new Promise((resolve) => setTimeout(resolve, 100));
  redis.resume();
  await until(() => gw.logs.some((l) => l.protocol === 'websocket'));
  t.match(gw.logs.find((l) => l.protocol === 'websocket'), { status: 0, reason: 'client_aborted', path: '/ws' });
  t.equal(up.sockets(), 0, 'nothing reached the upstream');
});
