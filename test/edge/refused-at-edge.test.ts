import http2 from 'node:http2';
import t from 'tap';
import { hostOf, startGateway } from '../helpers/gateway';
import { CA, rawRequest } from '../helpers/raw-http';
import { startUpstream } from '../helpers/upstream';

/** Answers one HTTP/2 CONNECT stream on `session`: its status and body. */
function h2Connect(session: http2.ClientHttp2Session, authority: string, type: string | undefined): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const headers: http2.OutgoingHttpHeaders = { ':method': 'CONNECT', ':authority': authority };
    if (type) headers['content-type'] = type;
    const stream = session.request(headers, { endStream: false });
    let status = 0;
    let body = '';
    stream.on('response', (h) => { status = Number(h[':status']); });
    stream.setEncoding('utf8');
    stream.on('data', (d: string) => { body += d; });
    stream.on('close', () => resolve({ status, body }));
    stream.on('error', reject);
    setTimeout(() => reject(new Error('no answer to an HTTP/2 CONNECT')), 5_000).unref();
  });
}

t.test('CONNECT gets 405 on HTTP/1.1 and HTTP/2, on every data listener, TLS too, and never reaches an upstream', async (t) => {
  const up = await startUpstream(t);
  const deployments = [{ name: 'open', access: 'public' as const, upstreams: [up.url] }];
  const gw = await startGateway(t, { deployments });
  const tlsGw = await startGateway(t, { deployments, tls: true });
  const plain: [string, number][] = [['external', gw.externalPort], ['internal', gw.internalPort]];

  for (const [listener, port] of plain) {
    for (const target of ['example.com:443', `${hostOf('open')}:80`]) {
      const h1 = await rawRequest(port, `CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n`);
      t.equal(h1.status, 405, `${listener}: HTTP/1.1 CONNECT ${target}: 405`);
      t.match(h1.text, /\r\nallow: GET, HEAD, POST/i, 'with Allow');
      t.match(h1.text, /"error":"method_not_allowed"/, 'and the JSON error body');
      t.ok(h1.closed, 'and the connection closed');
    }
  }

  const origins: [string, string][] = [['external', gw.external], ['internal', gw.internal], ['external TLS (h2 by ALPN)', tlsGw.external]];
  for (const [listener, origin] of origins) {
    const session = http2.connect(origin, { ca: CA, servername: 'localhost' });
    session.on('error', () => undefined);
    t.teardown(() => session.destroy());
    for (const [authority, type] of [[hostOf('open'), undefined], ['example.com:443', 'application/grpc']] as const) {
      const answer = await h2Connect(session, authority, type);
      t.equal(answer.status, 405, `${listener}: HTTP/2 CONNECT ${authority} (${type ?? 'no content type'}): 405`);
      t.match(answer.body, /method_not_allowed/);
    }
  }
  t.equal(up.requests.length, 0, 'the upstream saw none of them');
  const logged = [...gw.logs, ...tlsGw.logs].filter((l) => l.method === 'CONNECT' && l.status === 405);
  t.equal(logged.length, 10, 'each has a log line');
  t.same([...new Set(logged.map((l) => l.listener))].sort(), ['external', 'internal'], 'naming its listener');
});

/** Status codes of every response in a raw reply, in order. */
function statusesOf(text: string): number[] {
  return [...text.matchAll(/^HTTP\/1\.1 (\d{3}) /gm)].map((m) => Number(m[1]));
}

t.test('a request pipelined behind a declined upgrade: never forwarded while its client is refused, never left waiting on an open connection', async (t) => {
  const up = await startUpstream(t);
  const gw = await startGateway(t, {
    deployments: [
      { name: 'open', access: 'public', upstreams: [up.url] },
      { name: 'guarded', access: 'protected', upstreams: [up.url] },
    ],
  });
  const host = hostOf('open');
  const paths = (): string[] => up.requests.map((r) => r.url);

  // An h2c offer is declined by the gateway and its request served as HTTP/1.1. Node's parser reads nothing after an
  // upgrade offer, taken up or not: the connection closes after the answer (a pipelining client sends the rest again),
  // rather than leave the client waiting for an answer to what it pipelined.
  const offer = `Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n`;
  const reply = await rawRequest(gw.externalPort, `GET /first HTTP/1.1\r\nHost: ${host}\r\n${offer}\r\nGET /second HTTP/1.1\r\nHost: ${host}\r\n\r\n`, 5_000);
  t.same(statusesOf(reply.text), [200], 'the offering request is answered');
  t.match(reply.text, /\r\nconnection: close\r\n/i, 'with Connection: close');
  t.ok(reply.closed, 'and its connection closes, the pipelined request unanswered');
  t.same(paths(), ['/first'], 'the upstream got only the answered request');

  const alone = await rawRequest(gw.externalPort, `GET /alone HTTP/1.1\r\nHost: ${host}\r\n${offer}\r\n`);
  t.equal(alone.status, 200, 'a declined upgrade on its own is still served');

  // A WebSocket handshake the gateway refuses (no token): the connection closes after the 401, nothing behind it is forwarded.
  const ws = `Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n`;
  const before = up.requests.length;
  const refused = await rawRequest(gw.externalPort, `GET /ws HTTP/1.1\r\nHost: ${hostOf('guarded')}\r\n${ws}\r\nGET /behind-refused HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
  t.same(statusesOf(refused.text), [401], 'a refused WebSocket handshake: only its 401');
  t.ok(refused.closed, 'and the connection closed');

  // A WebSocket handshake its upstream declines (a plain 200): the client gets that answer, the request behind it goes nowhere.
  const declined = await rawRequest(gw.externalPort, `GET /ws HTTP/1.1\r\nHost: ${host}\r\n${ws}\r\nGET /behind-declined HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
  t.same(statusesOf(declined.text), [200], 'a WebSocket handshake the upstream declined: only its answer');
  await new Promise((resolve) => setTimeout(resolve, 200));
  t.same(paths().slice(before), ['/ws'], 'the upstream got the declined handshake and nothing pipelined behind either');
});

t.test('requests Node\'s parser refuses get a log line, a metric and a request id', async (t) => {
  const up = await startUpstream(t);
  const gw = await startGateway(t, { deployments: [{ name: 'open', access: 'public', upstreams: [up.url] }] });
  const bad = await rawRequest(gw.externalPort, `GET / HTTP/1.1\r\nHost: ${hostOf('open')}\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n`);
  t.equal(bad.status, 400);
  const id = /\r\nx-request-id: ([^\r]+)/.exec(bad.text)?.[1];
  t.ok(id, 'the answer names a request id');
  const huge = await rawRequest(gw.externalPort, `GET / HTTP/1.1\r\nHost: ${hostOf('open')}\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
  t.equal(huge.status, 431);
  const line = gw.logs.find((l) => l.request_id === id);
  t.match(line, { reason: 'bad_request', status: 400, listener: 'external' }, 'the log line has the same id');
  t.ok(gw.logs.some((l) => l.reason === 'headers_too_large' && l.status === 431), 'a 431 is logged too');
  const metrics = await (await fetch(`${gw.admin}/metrics`)).text();
  t.match(metrics, /gatehouse_requests_total\{[^}]*reason="bad_request"[^}]*status="400"[^}]*\} [1-9]/, 'counted in gatehouse_requests_total');
  t.match(metrics, /gatehouse_requests_total\{[^}]*reason="headers_too_large"[^}]*status="431"[^}]*\} [1-9]/);
});
