import http2 from 'node:http2';
import t, { type Test } from 'tap';
import { hostOf, startGateway } from '../helpers/gateway';
import { get } from '../helpers/http';
import { h2Request, rawRequest } from '../helpers/raw-http';
import { startUpstream } from '../helpers/upstream';

t.test('bad input gets a 4xx, never reaches the upstream, never a 5xx', async (t) => {
  const up = await startUpstream(t);
  const gw = await startGateway(t, {
    deployments: [
      { name: 'open', access: 'public', upstreams: [up.url] },
      { name: 'guarded', access: 'protected', upstreams: [up.url] },
      { name: 'hidden', access: 'private', upstreams: [up.url] },
    ],
  });
  const { secret } = await gw.mint({ user: ['guarded'] });

  /** Sends raw bytes; asserts a 4xx (or a closed connection with no answer) and that the upstream saw nothing. */
  const refused = async (t: Test, what: string, bytes: string | Buffer, allowed: number[] = []): Promise<number> => {
    const before = up.requests.length;
    const r = await rawRequest(gw.externalPort, bytes, 1_500);
    t.ok((r.status >= 400 && r.status < 500) || allowed.includes(r.status), `${what}: got ${r.status || 'no answer'}`);
    t.ok(r.status < 500, `${what}: never a 5xx`);
    t.equal(up.requests.length, before, `${what}: not forwarded`);
    return r.status;
  };

  t.test('garbage Authorization values on a protected route: 401', async (t) => {
    const values: (string | Buffer)[] = [
      'Bearer', 'Bearer ', 'Bearer  ', 'Basic x', 'Basic dXNlcjpwYXNz', 'Bearer a b', 'Token abc', 'bearer', 'gth_x',
      `Bearer ${secret.slice(0, -1)}`, `Bearer ${secret}x`, `Bearer ${secret.slice(0, -1)}${secret.endsWith('A') ? 'B' : 'A'}`,
      `Bearer gth_${'0'.repeat(36)}`, `Bearer ${'A'.repeat(8_000)}`, `Bearer ${secret.toLowerCase()}`,
      Buffer.from('Bearer gth_\xff\xfe\xfd\x80ünïcødé', 'latin1'), Buffer.from('Bearer \x01\x02', 'latin1'),
    ];
    for (const value of values) {
      const head = Buffer.concat([
        Buffer.from(`GET / HTTP/1.1\r\nHost: ${hostOf('guarded')}\r\nConnection: close\r\nAuthorization: `, 'latin1'),
        Buffer.isBuffer(value) ? value : Buffer.from(value, 'latin1'),
        Buffer.from('\r\n\r\n', 'latin1'),
      ]);
      const status = await refused(t, `Authorization ${JSON.stringify(value.toString('latin1').slice(0, 30))}`, head);
      t.ok(status === 401 || status === 400, 'refused as unauthenticated (or a malformed request)');
    }
    const h2 = await h2Request(gw.external, { ':authority': hostOf('guarded'), authorization: 'Bearer' });
    t.equal(h2.status, 401, 'HTTP/2 too');
    const dup = await refused(t, 'two Authorization headers',
      `GET / HTTP/1.1\r\nHost: ${hostOf('guarded')}\r\nAuthorization: Bearer ${secret}\r\nAuthorization: Bearer ${secret}\r\nConnection: close\r\n\r\n`);
    t.equal(dup, 401, 'two Authorization headers do not make one valid token');
  });

  t.test('oversized headers: 431', async (t) => {
    const status = await refused(t, 'one 20 KiB header', `GET / HTTP/1.1\r\nHost: ${hostOf('open')}\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    t.equal(status, 431);
    const many = Array.from({ length: 1_000 }, (_, i) => `X-H${i}: ${'v'.repeat(20)}`).join('\r\n');
    t.equal(await refused(t, '1000 headers', `GET / HTTP/1.1\r\nHost: ${hostOf('open')}\r\n${many}\r\n\r\n`), 431);
    t.equal(await refused(t, 'huge Authorization', `GET / HTTP/1.1\r\nHost: ${hostOf('guarded')}\r\nAuthorization: Bearer ${'A'.repeat(20_000)}\r\n\r\n`), 431);
  });

  t.test('oversized HTTP/2 header block: refused, session survives or is closed, process up', async (t) => {
    const session = http2.connect(gw.external);
    session.on('error', () => undefined);
    const status = await new Promise<number>((resolve) => {
      const stream = session.request({ ':authority': hostOf('open'), 'x-big': 'a'.repeat(40_000) });
      stream.on('response', (h) => resolve(Number(h[':status'])));
      stream.on('error', () => resolve(0));
      stream.on('close', () => resolve(0));
    });
    session.destroy();
    t.ok(status === 0 || status === 431, `refused (${status || 'stream reset'})`);
    t.equal(up.requests.filter((r) => r.headers['x-big']).length, 0, 'not forwarded');
  });

  t.test('missing or bad Host: 400 or 404', async (t) => {
    t.equal(await refused(t, 'HTTP/1.1 without Host', 'GET / HTTP/1.1\r\nConnection: close\r\n\r\n'), 400);
    t.equal(await refused(t, 'HTTP/1.0 without Host', 'GET / HTTP/1.0\r\n\r\n'), 404);
    const hosts = [
      '', ' ', 'a b', '[::1', '[::1]:x', 'open.acme.gw.test:abc', `evil.example@${hostOf('open')}`, `${hostOf('open')}/x`,
      '..', '.', ':', ':80', 'OPEN.ACME.GW.TEST..', '%6fpen.acme.gw.test', 'open\\.acme.gw.test',
    ];
    for (const host of hosts) {
      const status = await refused(t, `Host ${JSON.stringify(host)}`, `GET / HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
      t.ok(status === 400 || status === 404, `Host ${JSON.stringify(host)} → 400/404`);
    }
    await refused(t, 'two Host headers', `GET / HTTP/1.1\r\nHost: unknown.example\r\nHost: ${hostOf('open')}\r\nConnection: close\r\n\r\n`);
  });

  t.test('request smuggling shapes: 400, not forwarded', async (t) => {
    const host = `Host: ${hostOf('open')}\r\n`;
    const shapes: [string, string][] = [
      ['Content-Length + Transfer-Encoding', `POST / HTTP/1.1\r\n${host}Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`],
      ['Transfer-Encoding + Content-Length', `POST / HTTP/1.1\r\n${host}Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n`],
      ['two different Content-Lengths', `POST / HTTP/1.1\r\n${host}Content-Length: 4\r\nContent-Length: 5\r\n\r\nabcde`],
      ['two equal Content-Lengths', `POST / HTTP/1.1\r\n${host}Content-Length: 4\r\nContent-Length: 4\r\n\r\nabcd`],
      ['Content-Length list', `POST / HTTP/1.1\r\n${host}Content-Length: 4, 4\r\n\r\nabcd`],
      ['non-numeric Content-Length', `POST / HTTP/1.1\r\n${host}Content-Length: 4x\r\n\r\nabcd`],
      ['negative Content-Length', `POST / HTTP/1.1\r\n${host}Content-Length: -1\r\n\r\n`],
      ['chunked not last', `POST / HTTP/1.1\r\n${host}Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n`],
      ['unknown Transfer-Encoding', `POST / HTTP/1.1\r\n${host}Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n`],
      ['space before colon', `POST / HTTP/1.1\r\n${host}Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n`],
      ['obs-fold header', `GET / HTTP/1.1\r\n${host}X-Folded: a\r\n b\r\n\r\n`],
      ['bare LF line endings', `GET / HTTP/1.1\n${host.trim()}\n\n`],
      ['NUL in a header', `GET / HTTP/1.1\r\n${host}X-Nul: a\0b\r\n\r\n`],
      ['garbage request line', `GET / FOO/9.9\r\n${host}\r\n`],
      ['bad chunk size', `POST / HTTP/1.1\r\n${host}Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n`],
      ['overflowing chunk size', `POST / HTTP/1.1\r\n${host}Transfer-Encoding: chunked\r\n\r\nfffffffffffffffffff\r\nabc\r\n0\r\n\r\n`],
      ['chunk without CRLF', `POST / HTTP/1.1\r\n${host}Transfer-Encoding: chunked\r\n\r\n3\r\nabcX0\r\n\r\n`],
    ];
    for (const [what, bytes] of shapes) await refused(t, what, bytes);
  });

  t.test('no header makes an external request internal', async (t) => {
    const unknown = await get(gw.external + '/', { host: 'nothing-here.acme.gw.test' });
    const sameAsUnknown = (body: string): boolean => {
      const parsed = JSON.parse(body) as Record<string, unknown>;
      return JSON.stringify({ ...parsed, request_id: '' }) === JSON.stringify({ ...unknown.json(), request_id: '' });
    };
    const tricks: Record<string, string>[] = [
      { 'x-forwarded-for': '127.0.0.1' }, { 'x-real-ip': '127.0.0.1' }, { forwarded: 'for=127.0.0.1;proto=http;by=internal' },
      { 'x-forwarded-host': hostOf('hidden') }, { 'x-forwarded-port': String(gw.internalPort) }, { 'x-gatehouse-listener': 'internal' },
      { 'x-gatehouse-internal': 'true' }, { x_gatehouse_listener: 'internal' }, { 'x-original-url': 'http://internal/' },
      { 'x-forwarded-server': 'internal' }, { via: '1.1 internal' },
    ];
    const before = up.requests.length;
    for (const extra of tricks) {
      const r = await get(gw.external + '/', { host: hostOf('hidden'), ...extra });
      t.equal(r.status, 404, `private stays 404 with ${JSON.stringify(extra)}`);
      t.ok(sameAsUnknown(r.text), 'and looks like an unknown host');
    }
    for (const host of [`${hostOf('hidden')}:${gw.internalPort}`, 'HIDDEN.acme.gw.test', `${hostOf('hidden')}.`, 'hidden.acme.gw.test:0']) {
      const r = await get(gw.external + '/', { host });
      t.equal(r.status, 404, `Host ${host}`);
    }
    const absolute = await rawRequest(gw.externalPort, `GET http://${hostOf('hidden')}/ HTTP/1.1\r\nHost: nothing.example\r\nConnection: close\r\n\r\n`);
    t.equal(absolute.status, 404, 'an absolute-form target naming the private host');
    const h2 = await h2Request(gw.external, { ':authority': hostOf('hidden'), 'x-forwarded-for': '127.0.0.1' });
    t.equal(h2.status, 404, 'HTTP/2 :authority of a private Deployment');
    const h2Host = await h2Request(gw.external, { ':authority': 'nothing.example', host: hostOf('hidden') });
    t.equal(h2Host.status, 404, 'HTTP/2 Host header naming the private Deployment');
    const upgrade = await rawRequest(gw.externalPort,
      `GET / HTTP/1.1\r\nHost: ${hostOf('hidden')}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`);
    t.equal(upgrade.status, 404, 'a WebSocket upgrade to the private Deployment');
    t.equal(up.requests.length, before, 'the private upstream saw none of it');
    const internal = await get(gw.internal + '/', { host: hostOf('hidden') });
    t.equal(internal.status, 200, 'the same request on the internal listener is served');
  });

  t.test('the process is still up and serving', async (t) => {
    const r = await get(gw.external + '/', { host: hostOf('open') });
    t.equal(r.status, 200);
    const statuses = gw.logs.filter((l) => l.msg === 'request').map((l) => Number(l.status));
    t.notOk(statuses.some((s) => s >= 500), 'no 5xx was logged');
  });
});
