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
