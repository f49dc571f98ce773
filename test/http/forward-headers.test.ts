import net from 'node:net';
import t from 'tap';
import { hostOf, startGateway } from '../helpers/gateway';
import { get } from '../helpers/http';
import { h2Request, rawBody, rawRequest } from '../helpers/raw-http';
import { startUpstream, type SeenRequest } from '../helpers/upstream';

/** Header names (lower-case) as the upstream received them, with how often each came. */
function names(seen: SeenRequest): Map<string, number> {
  const counts = new Map<string, number>();
  for (let i = 0; i < seen.rawHeaders.length; i += 2) {
    const name = seen.rawHeaders[i].toLowerCase();
    counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  return counts;
}

t.test('forwarded request headers', async (t) => {
  const up = await startUpstream(t);
  const gw = await startGateway(t, {
    deployments: [
      { name: 'open', access: 'public', upstreams: [up.url] },
      { name: 'guarded', access: 'protected', upstreams: [up.url] },
      { name: 'keeper', access: 'protected', upstreams: [up.url], forwardAuthorization: true },
    ],
    extra: { trustedProxies: ['10.0.0.0/8'] },
  });
  const { secret, token } = await gw.mint({ user: ['guarded', 'keeper'] });
  const last = (): SeenRequest => up.requests[up.requests.length - 1];

  t.test('Authorization is removed unless forwardAuthorization', async (t) => {
    const r1 = await get(gw.external + '/a', { host: hostOf('guarded'), authorization: `Bearer ${secret}` });
    t.equal(r1.status, 200);
    t.notOk(names(last()).has('authorization'), 'removed by default');
    t.equal(last().headers['x-gatehouse-token-id'], token.id, 'token id set for a token request');

    const r2 = await get(gw.external + '/a', { host: hostOf('keeper'), authorization: `Bearer ${secret}` });
    t.equal(r2.status, 200);
    t.equal(last().headers.authorization, `Bearer ${secret}`, 'kept with forwardAuthorization: true');

    const r3 = await get(gw.external + '/a', { host: hostOf('open'), authorization: 'Bearer whatever' });
    t.equal(r3.status, 200, 'a public route ignores the token');
    t.notOk(names(last()).has('authorization'));
    t.notOk(names(last()).has('x-gatehouse-token-id'), 'no token id without token authentication');
  });

  t.test('client X-Gatehouse-* headers are stripped in every spelling', async (t) => {
    const spoofs = [
      'X-Gatehouse-Token-Id: evil1', 'X_Gatehouse_Token_Id: evil2', 'x.gatehouse.token.id: evil3',
      'X-GATEHOUSE-Anything: evil4', 'x_gatehouse-mixed.name: evil5', 'X.Gatehouse_: evil6',
    ].join('\r\n');
    for (const [host, auth, expected] of [
      [hostOf('guarded'), `Authorization: Bearer ${secret}\r\n`, token.id],
      [hostOf('open'), '', undefined],
    ] as const) {
      const before = up.requests.length;
      const reply = await rawRequest(gw.externalPort,
        `GET /spoof HTTP/1.1\r\nHost: ${host}\r\n${auth}${spoofs}\r\nX-Gatehousex: kept\r\nConnection: close\r\n\r\n`);
      t.equal(reply.status, 200);
      t.equal(up.requests.length, before + 1);
      const seen = last();
      const gatehouse = [...names(seen).keys()].filter((n) => n.replace(/[_.]/g, '-').startsWith('x-gatehouse-'));
      t.same(gatehouse, expected === undefined ? [] : ['x-gatehouse-token-id'], `only the gateway's own header on ${host}`);
      t.equal(seen.headers['x-gatehouse-token-id'], expected);
      t.notMatch(JSON.stringify(seen.rawHeaders), /evil/, 'no spoofed value reaches the upstream');
      t.equal(seen.headers['x-gatehousex'], 'kept', 'a name that merely starts alike is left alone');
    }
  });

  t.test('the same rules for HTTP/2 requests', async (t) => {
    const r = await h2Request(gw.external, {
      ':authority': hostOf('guarded'), authorization: `Bearer ${secret}`, 'x-request-id': 'h2-id.1',
      'x_gatehouse_token_id': 'evil1', 'x.gatehouse.token.id': 'evil2', 'x-gatehouse-token-id': 'evil3',
      'x-forwarded-for': '10.9.9.9', forwarded: 'for=10.9.9.9', te: 'trailers', 'x-stays': 'yes',
    });
    t.equal(r.status, 200);
    t.equal(r.headers['x-request-id'], 'h2-id.1', 'the request id is kept and answered');
    const seen = last();
    const got = names(seen);
    t.notOk(got.has('authorization'));
    t.notOk(got.has('te'));
    t.notOk(got.has('forwarded'));
    t.equal(seen.headers['x-gatehouse-token-id'], token.id);
    t.notMatch(JSON.stringify(seen.rawHeaders), /evil/);
    t.equal(seen.headers['x-forwarded-for'], '127.0.0.1');
    t.equal(seen.headers['x-forwarded-host'], hostOf('guarded'));
    t.equal(seen.headers['x-request-id'], 'h2-id.1');
    t.equal(seen.headers['x-stays'], 'yes');
    t.ok(gw.logs.some((l) => l.msg === 'request' && l.request_id === 'h2-id.1' && l.token_id === token.id), 'logged with the id and token id');
  });

  t.test('hop-by-hop request headers are removed', async (t) => {
    const body = 'hello, chunked world';
    const chunked = `${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`;
    const reply = await rawRequest(gw.externalPort, [
      'POST /hop HTTP/1.1', `Host: ${hostOf('open')}`,
      'Connection: keep-alive, X-Drop-Me, x-drop-too', 'X-Drop-Me: 1', 'X-Drop-Too: 2', 'Keep-Alive: timeout=5',
      'TE: trailers', 'Upgrade: something', 'Proxy-Authorization: Basic c2VjcmV0', 'Proxy-Connection: keep-alive',
      'Trailer: X-Sum', 'HTTP2-Settings: AAMAAABkAAQAAP__', 'X-Stays: yes', 'Transfer-Encoding: chunked', '', chunked,
    ].join('\r\n'), 1_000);
    t.equal(reply.status, 200);
    const seen = last();
    const got = names(seen);
    for (const name of ['connection', 'x-drop-me', 'x-drop-too', 'keep-alive', 'te', 'upgrade', 'proxy-authorization', 'proxy-connection', 'trailer', 'http2-settings']) {
      if (name === 'connection' || name === 'keep-alive') {
        // undici's own keep-alive connection header is fine; the client's tokens must not survive.
        t.notMatch(String(seen.headers[name] ?? ''), /x-drop|timeout=5/i, `client's ${name} not forwarded`);
      } else {
        t.notOk(got.has(name), `${name} not forwarded`);
      }
    }
    t.ok((got.get('transfer-encoding') ?? 0) <= 1, 'Transfer-Encoding is the upstream hop\'s own, never doubled');
    t.equal(seen.headers['x-stays'], 'yes');
    t.equal(JSON.parse(rawBody(reply)).bodyLength, body.length, 'the chunked body arrives whole');
  });

  t.test('hop-by-hop response headers are removed', async (t) => {
    const noisy = await startUpstream(t, (_req, res) => {
      res.writeHead(200, {
        connection: 'keep-alive, X-Hop-Secret', 'x-hop-secret': '1', 'keep-alive': 'timeout=1',
        'proxy-authenticate': 'Basic', 'x-end-to-end': 'kept', 'content-type': 'text/plain',
      });
      res.end('ok');
    });
    const gw2 = await startGateway(t, { deployments: [{ name: 'noisy', access: 'public', upstreams: [noisy.url] }] });
    const r = await get(gw2.external + '/', { host: hostOf('noisy') });
    t.equal(r.status, 200);
    t.equal(r.text, 'ok');
    t.notOk(r.headers['x-hop-secret'], 'a header the upstream named in Connection is dropped');
    t.notOk(r.headers['proxy-authenticate']);
    t.not(r.headers['keep-alive'], 'timeout=1', "the upstream's Keep-Alive is not relayed");
    t.equal(r.headers['x-end-to-end'], 'kept');
  });

  t.test('Expect: 100-continue is answered and not forwarded', async (t) => {
    const reply = await new Promise<string>((resolve) => {
      let text = '';
      let sent = false;
      const socket = net.connect(gw.externalPort, '127.0.0.1');
      socket.on('data', (d: Buffer) => {
        text += d.toString();
        // The body goes only after the interim answer, as a client honouring Expect does.
        if (!sent && /^HTTP\/1\.1 100[^\r]*\r\n\r\n/.test(text)) {
          sent = true;
          socket.write('hello');
        }
        if (/"bodyLength":5/.test(text)) { socket.end(); resolve(text); }
      });
      socket.on('close', () => resolve(text));
      socket.write(`POST /expect HTTP/1.1\r\nHost: ${hostOf('open')}\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n`);
      setTimeout(() => { socket.destroy(); }, 3_000).unref();
    });
    t.match(reply, /^HTTP\/1\.1 100 Continue\r\n/, 'the client is told to go on');
    t.match(reply, /HTTP\/1\.1 200 OK/, 'and gets its answer');
    t.notOk(names(last()).has('expect'), 'expect is not forwarded');
    t.equal(last().headers['content-length'], '5');
  });

  t.test('X-Forwarded-* and Forwarded from an untrusted peer are replaced', async (t) => {
    const r = await get(gw.external + '/xf', {
      host: `${hostOf('open')}:8080`,
      'x-forwarded-for': '10.1.2.3', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'evil.example', forwarded: 'for=10.1.2.3;proto=https',
    });
    t.equal(r.status, 200);
    const h = last().headers;
    t.equal(h['x-forwarded-for'], '127.0.0.1');
    t.equal(h['x-forwarded-proto'], 'http');
    t.equal(h['x-forwarded-host'], `${hostOf('open')}:8080`);
    t.notOk(h.forwarded, 'Forwarded is removed');
    t.not(h.host, hostOf('open'), 'the upstream gets its own Host');
  });

  t.test('X-Request-Id: kept when valid, else generated; the same in response, upstream and log', async (t) => {
    const valid = ['abc-123', 'A.b:c-d_e', 'x'.repeat(128)];
    const invalid = ['', 'has space', 'x'.repeat(129), 'semi;colon', 'slash/no', 'ünï'];
    for (const id of [...valid, ...invalid]) {
      const r = await rawRequest(gw.externalPort,
        `GET /rid HTTP/1.1\r\nHost: ${hostOf('open')}\r\nX-Request-Id: ${id}\r\nConnection: close\r\n\r\n`);
      t.equal(r.status, 200, `request with id ${JSON.stringify(id.slice(0, 20))}`);
      const echoed = /\r\nx-request-id: ([^\r]*)\r\n/i.exec(r.text)?.[1];
      const upstreamId = last().headers['x-request-id'];
      if (valid.includes(id)) t.equal(echoed, id, 'kept');
      else t.match(echoed, /^[0-9a-f-]{36}$/, 'generated');
      t.equal(upstreamId, echoed, 'the upstream got the same id');
      t.ok(gw.logs.some((l) => l.msg === 'request' && l.request_id === echoed), 'the log line carries it');
    }
    const two = await rawRequest(gw.externalPort,
      `GET /rid HTTP/1.1\r\nHost: ${hostOf('open')}\r\nX-Request-Id: one\r\nX-Request-Id: two\r\nConnection: close\r\n\r\n`);
    t.notMatch(two.text, /x-request-id: (one|two)\r\n/i, 'two ids are not one valid id');
  });
});

t.test('a trusted proxy peer: X-Forwarded-* kept and appended', async (t) => {
  const up = await startUpstream(t);
  const gw = await startGateway(t, {
    deployments: [{ name: 'open', access: 'public', upstreams: [up.url] }],
    extra: { trustedProxies: ['127.0.0.0/8'] },
  });
  const r = await get(gw.external + '/', {
    host: hostOf('open'),
    'x-forwarded-for': '203.0.113.7', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'public.example', forwarded: 'for=203.0.113.7',
  });
  t.equal(r.status, 200);
  const h = up.requests[0].headers;
  t.equal(h['x-forwarded-for'], '203.0.113.7, 127.0.0.1', 'the peer is appended');
  t.equal(h['x-forwarded-proto'], 'https');
  t.equal(h['x-forwarded-host'], 'public.example');
  t.equal(h.forwarded, 'for=203.0.113.7');

  const plain = await get(gw.external + '/', { host: hostOf('open') });
  t.equal(plain.status, 200);
  t.equal(up.requests[1].headers['x-forwarded-for'], '127.0.0.1', 'set when the proxy sent none');
  t.equal(up.requests[1].headers['x-forwarded-proto'], 'http');
});
