import net from 'node:net';
import t from 'tap';
import { hostOf, startGateway } from '../helpers/gateway';
import { rawRequest } from '../helpers/raw-http';
import { startUpstream } from '../helpers/upstream';

/** Status codes of every response in a raw exchange, in order (a response may follow a body on the same line). */
function statuses(text: string): number[] {
  return [...text.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));
}

t.test('HTTP/1.1 refusals on a kept-alive connection: the unread body is skipped, never read as a request', async (t) => {
  const up = await startUpstream(t);
  const gw = await startGateway(t, {
    deployments: [
      { name: 'open', access: 'public', upstreams: [up.url] },
      { name: 'guarded', access: 'protected', upstreams: [up.url] },
    ],
  });
  const open = hostOf('open');
  const guarded = hostOf('guarded');

  const smuggled = `GET /smuggled HTTP/1.1\r\nHost: ${open}\r\n\r\n`;
  const sized = await rawRequest(gw.externalPort,
    `POST /a HTTP/1.1\r\nHost: ${guarded}\r\nContent-Length: ${smuggled.length}\r\n\r\n${smuggled}` +
    `GET /b HTTP/1.1\r\nHost: ${open}\r\nConnection: close\r\n\r\n`);
  t.same(statuses(sized.text), [401, 200], 'Content-Length body: refused, then the next pipelined request served');
  t.ok(sized.closed, 'and the connection closed as asked');

  const chunk = smuggled.length.toString(16);
  const chunked = await rawRequest(gw.externalPort,
    `POST /a HTTP/1.1\r\nHost: ${guarded}\r\nTransfer-Encoding: chunked\r\n\r\n${chunk}\r\n${smuggled}\r\n0\r\n\r\n` +
    `GET /c HTTP/1.1\r\nHost: ${open}\r\nConnection: close\r\n\r\n`);
  t.same(statuses(chunked.text), [401, 200], 'chunked body: the same');

  const head = await rawRequest(gw.externalPort,
    `HEAD / HTTP/1.1\r\nHost: ${guarded}\r\n\r\nGET /d HTTP/1.1\r\nHost: ${open}\r\nConnection: close\r\n\r\n`);
  t.same(statuses(head.text), [401, 200], 'HEAD refused, then the next request served');
  t.match(head.text, /^HTTP\/1\.1 401 [^]*?\r\n\r\nHTTP\/1\.1 200 /, 'the HEAD refusal has no body');

  t.same(up.requests.map((r) => r.url), ['/b', '/c', '/d'], 'only the allowed requests reached the upstream; no body became a request');
});

/** Sends a request head, waits for the first answer, then (if it was 100 Continue) the body; resolves with all text. */
function expectContinue(port: number, host: string, authorization?: string): Promise<{ first: string; text: string }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let text = '';
    let first = '';
    socket.on('error', reject);
    socket.on('data', (d: Buffer) => {
      text += d.toString('latin1');
      if (first !== '') return;
      first = text.split('\r\n', 1)[0] ?? '';
      if (first.startsWith('HTTP/1.1 100 ')) socket.write('hello');
    });
    socket.on('close', () => resolve({ first, text }));
    socket.write([
      'POST /upload HTTP/1.1', `Host: ${host}`, 'Content-Length: 5', 'Expect: 100-continue', 'Connection: close',
      ...(authorization === undefined ? [] : [`Authorization: ${authorization}`]), '', '',
    ].join('\r\n'));
  });
}

t.test('HTTP/1.1 Expect: 100-continue: only an allowed request is invited to send its body', async (t) => {
  const up = await startUpstream(t);
  const gw = await startGateway(t, {
    deployments: [
      { name: 'open', access: 'public', upstreams: [up.url] },
      { name: 'guarded', access: 'protected', upstreams: [up.url] },
    ],
  });
  const refused = await expectContinue(gw.externalPort, hostOf('guarded'));
  t.equal(refused.first, 'HTTP/1.1 401 Unauthorized', 'a refused upload gets its 401 without a 100 Continue first');
  t.notMatch(refused.text, /100 Continue/);

  const { secret } = await gw.mint({ user: ['guarded'] });
  for (const [host, authorization] of [[hostOf('open'), undefined], [hostOf('guarded'), `Bearer ${secret}`]] as const) {
    const allowed = await expectContinue(gw.externalPort, host, authorization);
    t.equal(allowed.first, 'HTTP/1.1 100 Continue', `${host}: 100 Continue once allowed`);
    t.match(allowed.text, /HTTP\/1\.1 200 OK/, 'then the upstream answer');
    t.match(allowed.text, /"bodyLength":5/, 'to which the body was forwarded');
  }
  t.equal(up.requests.length, 2, 'the refused request never reached the upstream');
});
