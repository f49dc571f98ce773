import http from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import WebSocket, { WebSocketServer } from 'ws';
import { hostOf, startGateway } from '../helpers/gateway';
import { get } from '../helpers/http';
import { h2Request, rawBody, rawRequest } from '../helpers/raw-http';
import { startUpstream } from '../helpers/upstream';

t.test('an upstream repeating a single-value response header: HTTP/2 clients get the response, not a 502', async (t) => {
  const up = await startUpstream(t, (req, res) => {
    req.resume();
    res.setHeader('content-type', ['text/plain', 'text/html']);
    res.setHeader('etag', ['"first"', '"second"']);
    res.setHeader('set-cookie', ['a=1', 'b=2']);
    res.end('body');
  });
  const gw = await startGateway(t, { deployments: [{ name: 'sloppy', access: 'public', upstreams: [up.url] }] });
  const h1 = await get(gw.external + '/', { host: hostOf('sloppy') });
  t.equal(h1.status, 200, 'HTTP/1.1 relays it');
  const h2 = await h2Request(gw.external, { ':authority': hostOf('sloppy') });
  t.equal(h2.status, 200, 'HTTP/2 relays it too');
  t.equal(h2.body.toString(), 'body');
  t.equal(h2.headers['content-type'], 'text/plain', 'the first of a repeated single-value field, as Node\'s HTTP/1 parser keeps');
  t.equal(h2.headers.etag, '"first"');
  t.same(h2.headers['set-cookie'], ['a=1', 'b=2'], 'list fields keep every value');
});

t.test('an absolute-form request target reaches the upstream in origin form', async (t) => {
  const up = await startUpstream(t);
  const gw = await startGateway(t, { deployments: [{ name: 'open', access: 'public', upstreams: [up.url] }] });
  const cases: [string, string][] = [
    ['http://elsewhere.example/p/q?x=1', '/p/q?x=1'],
    ['HTTPS://elsewhere.example:8443/', '/'],
    ['http://elsewhere.example?x=1', '/?x=1'],
    ['http://elsewhere.example', '/'],
  ];
  for (const [target, expected] of cases) {
    const reply = await rawRequest(gw.externalPort, `GET ${target} HTTP/1.1\r\nHost: ${hostOf('open')}\r\nConnection: close\r\n\r\n`);
    t.equal(reply.status, 200, target);
    const seen = JSON.parse(rawBody(reply)) as { url: string; headers: Record<string, string> };
    t.equal(seen.url, expected, `${target} → ${expected}`);
    t.notMatch(JSON.stringify(seen), /elsewhere/, 'the unchecked authority never reaches the upstream');
  }
});

t.test('response trailers reach HTTP/1.1 and HTTP/2 clients; framings without room for them still work', async (t) => {
  const up = await startUpstream(t, (req, res) => {
    req.resume();
    // Node itself refuses a Trailer header on a response without a body.
    if (req.method === 'HEAD') return void res.writeHead(200, { 'content-type': 'text/plain' }).end();
    res.writeHead(200, { 'content-type': 'text/plain', trailer: 'x-checksum' });
    res.write('part one, ');
    res.addTrailers({ 'x-checksum': 'abc123' });
    res.end('part two');
  });
  const gw = await startGateway(t, { deployments: [{ name: 'open', access: 'public', upstreams: [up.url] }] });

  const h1 = await rawRequest(gw.externalPort, `GET / HTTP/1.1\r\nHost: ${hostOf('open')}\r\nTE: trailers\r\nConnection: close\r\n\r\n`);
  t.equal(h1.status, 200);
  t.equal(rawBody(h1), 'part one, part two');
  t.match(h1.text, /\r\n0\r\nx-checksum: abc123\r\n\r\n$/, 'HTTP/1.1: the trailer follows the last chunk');

  const h10 = await rawRequest(gw.externalPort, `GET / HTTP/1.0\r\nHost: ${hostOf('open')}\r\n\r\n`);
  t.match(h10.text, /^HTTP\/1\.1 200 /, 'HTTP/1.0 (no chunks, so no trailers): still a 200');
  t.match(h10.text, /part one, part two$/);
  const head = await rawRequest(gw.externalPort, `HEAD / HTTP/1.1\r\nHost: ${hostOf('open')}\r\nConnection: close\r\n\r\n`);
  t.equal(head.status, 200, 'HEAD: still a 200');

  const h2 = await new Promise<{ body: string; trailers: http2.IncomingHttpHeaders | undefined; announced: unknown }>((resolve, reject) => {
    const session = http2.connect(gw.external);
    session.on('error', reject);
    const stream = session.request({ ':path': '/', ':authority': hostOf('open') });
    let body = '';
    let trailers: http2.IncomingHttpHeaders | undefined;
    let announced: unknown;
    stream.setEncoding('utf8');
    stream.on('response', (h) => { announced = h.trailer; });
    stream.on('data', (d: string) => { body += d; });
    stream.on('trailers', (h) => { trailers = h; });
    stream.on('end', () => { session.close(); resolve({ body, trailers, announced }); });
    stream.on('error', reject);
  });
  t.equal(h2.body, 'part one, part two');
  t.equal(h2.announced, 'x-checksum', 'HTTP/2: the announcement is relayed');
  t.equal(h2.trailers?.['x-checksum'], 'abc123', 'and so is the trailer');
});

t.test('a request target that is not a path (OPTIONS *) gets a 400, not a 502, and never reaches the upstream', async (t) => {
  const up = await startUpstream(t);
  const gw = await startGateway(t, {
    deployments: [
      { name: 'open', access: 'public', upstreams: [up.url] },
      { name: 'guarded', access: 'protected', upstreams: [up.url] },
    ],
  });
  const reply = await rawRequest(gw.externalPort, `OPTIONS * HTTP/1.1\r\nHost: ${hostOf('open')}\r\nConnection: close\r\n\r\n`);
  t.equal(reply.status, 400, 'HTTP/1.1');
  t.match(JSON.parse(rawBody(reply)), { error: 'bad_request', message: 'the request target must be a path' });
  const h2 = await h2Request(gw.external, { ':authority': hostOf('open'), ':method': 'OPTIONS', ':path': '*' });
  t.equal(h2.status, 400, 'HTTP/2');
  const unauthenticated = await rawRequest(gw.externalPort, `OPTIONS * HTTP/1.1\r\nHost: ${hostOf('guarded')}\r\nConnection: close\r\n\r\n`);
  t.equal(unauthenticated.status, 401, 'the decision still comes first');
  t.equal(up.requests.length, 0, 'nothing reached the upstream');
  t.match(gw.logs.find((l) => l.reason === 'bad_request'), { status: 400, deployment: 'open' });
});

t.test('behind a trusted proxy, failed attempts are counted per client, not per proxy', async (t) => {
  const up = await startUpstream(t);
  const gw = await startGateway(t, {
    deployments: [{ name: 'guarded', access: 'protected', upstreams: [up.url] }],
    extra: { trustedProxies: ['127.0.0.0/8'], failedAuth: { perMinute: 3 } },
  });
  const { secret } = await gw.mint({ user: ['guarded'] });
  const viaProxy = (client: string, token: string) =>
    get(gw.external + '/', { host: hostOf('guarded'), authorization: `Bearer ${token}`, 'x-forwarded-for': client });
  for (let i = 0; i < 3; i++) t.equal((await viaProxy('203.0.113.7', 'gth_nope')).status, 401, `failure ${i + 1}`);
  t.equal((await viaProxy('203.0.113.7', 'gth_nope')).status, 429, 'the failing client is limited');
  t.equal((await viaProxy('203.0.113.7', secret)).status, 429, 'whatever it sends');
  t.equal((await viaProxy('198.51.100.9', secret)).status, 200, 'another client behind the same proxy is not');
  const h2 = await h2Request(gw.external, {
    ':authority': hostOf('guarded'), authorization: `Bearer ${secret}`, 'x-forwarded-for': '198.51.100.9',
  });
  t.equal(h2.status, 200, 'on HTTP/2 neither');
  t.equal((await viaProxy('198.51.100.9, 203.0.113.7', secret)).status, 429,
    'a client cannot escape by prepending addresses: the hop its proxy appended counts');
});

t.test('a WebSocket handshake answer carries the request id, upgraded or not', async (t) => {
  const server = http.createServer((_req, res) => res.writeHead(426).end());
  const wss = new WebSocketServer({ noServer: true });
  server.on('upgrade', (req, socket, head) => {
    if (req.url === '/no') return void socket.end('HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n');
    wss.handleUpgrade(req, socket, head, (ws) => ws.close());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const up = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const gw = await startGateway(t, { deployments: [{ name: 'chat', access: 'public', upstreams: [up] }] });
  const answer = (path: string, id: string) => new Promise<{ status: number; headers: http.IncomingHttpHeaders }>((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${gw.externalPort}${path}`, { headers: { host: hostOf('chat'), 'x-request-id': id } });
    ws.once('upgrade', (res) => {
      resolve({ status: res.statusCode ?? 0, headers: res.headers });
      ws.terminate();
    });
    ws.once('unexpected-response', (_req, res) => {
      resolve({ status: res.statusCode ?? 0, headers: res.headers });
      res.destroy();
    });
    ws.once('error', reject);
  });
  const upgraded = await answer('/yes', 'ws-id-1');
  t.equal(upgraded.status, 101);
  t.equal(upgraded.headers['x-request-id'], 'ws-id-1', 'in the 101');
  const declined = await answer('/no', 'ws-id-2');
  t.equal(declined.status, 403);
  t.equal(declined.headers['x-request-id'], 'ws-id-2', 'in the upstream\'s refusal');
});
