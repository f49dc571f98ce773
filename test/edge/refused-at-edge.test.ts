import http2 from 'node:http2';
import t from 'tap';
import { hostOf, startGateway } from '../helpers/gateway';
import { rawRequest } from '../helpers/raw-http';
import { startUpstream } from '../helpers/upstream';

t.test('CONNECT gets 405 on HTTP/1.1 and HTTP/2 and never reaches an upstream', async (t) => {
  const up = await startUpstream(t);
  const gw = await startGateway(t, { deployments: [{ name: 'open', access: 'public', upstreams: [up.url] }] });

  for (const target of ['example.com:443', `${hostOf('open')}:80`]) {
    const h1 = await rawRequest(gw.externalPort, `CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n`);
    t.equal(h1.status, 405, `HTTP/1.1 CONNECT ${target}: 405`);
    t.match(h1.text, /\r\nallow: GET, HEAD, POST/i, 'with Allow');
    t.match(h1.text, /"error":"method_not_allowed"/, 'and the JSON error body');
    t.ok(h1.closed, 'and the connection closed');
  }

  const session = http2.connect(gw.external);
  session.on('error', () => undefined);
  t.teardown(() => session.destroy());
  for (const [authority, type] of [[hostOf('open'), undefined], ['example.com:443', 'application/grpc']] as const) {
    const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
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
    t.equal(answer.status, 405, `HTTP/2 CONNECT ${authority} (${type ?? 'no content type'}): 405`);
    t.match(answer.body, /method_not_allowed/);
  }
  t.equal(up.requests.length, 0, 'the upstream saw none of them');
  t.ok(gw.logs.filter((l) => l.method === 'CONNECT' && l.status === 405).length === 4, 'each has a log line');
});

t.test('a request pipelined behind a declined upgrade: never forwarded while the client is refused', async (t) => {
  const up = await startUpstream(t);
  const gw = await startGateway(t, { deployments: [{ name: 'open', access: 'public', upstreams: [up.url] }] });
  const host = hostOf('open');
  const offer = `Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n`;
  const reply = await rawRequest(gw.externalPort, `GET /first HTTP/1.1\r\nHost: ${host}\r\n${offer}\r\nGET /second HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
  const statuses = [...reply.text.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));
  const served = statuses.filter((s) => s === 200).length;
  t.equal(up.requests.length, served, `the upstream got exactly what the client was answered for (${JSON.stringify(statuses)})`);

  const alone = await rawRequest(gw.externalPort, `GET /alone HTTP/1.1\r\nHost: ${host}\r\n${offer}\r\n`);
  t.equal(alone.status, 200, 'a declined upgrade on its own is still served');
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
