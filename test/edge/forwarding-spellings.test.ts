import type { IncomingMessage } from 'node:http';
import t from 'tap';
import { WebSocket } from 'ws';
import { hostOf, startGateway } from '../helpers/gateway';
import { h2Request, rawRequest } from '../helpers/raw-http';
import { startUpstream, startWsUpstream } from '../helpers/upstream';

/** Every spelling a folding framework (WSGI, CGI, Rack) reads as a forwarding header. */
const SPOOFS: readonly [string, string][] = [
  ['X_Forwarded_For', '6.6.6.1'], ['X_Forwarded_Proto', 'https'], ['X_Forwarded_Host', 'evil.example'],
  ['x.forwarded.for', '6.6.6.2'], ['X-Forwarded_For', '6.6.6.3'], ['X-Forwarded-Port', '6666'], ['X_Forwarded_Prefix', '/6'],
  ['Forwarded', 'for=6.6.6.4'], ['x_real.ip', '6.6.6.5'], ['X-Real-IP', '6.6.6.6'], ['X_Real_IP', '6.6.6.7'],
  ['True-Client-IP', '6.6.6.8'], ['True_Client.IP', '6.6.6.9'],
];

/** Lower-case names the upstream got that fold to a forwarding header, in order. */
function forwardingNames(raw: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const folded = raw[i].toLowerCase().replace(/[_.]/g, '-');
    if (folded.startsWith('x-forwarded-') || ['forwarded', 'x-real-ip', 'true-client-ip'].includes(folded)) out.push(raw[i].toLowerCase());
  }
  return out.sort();
}

const OURS = ['x-forwarded-for', 'x-forwarded-host', 'x-forwarded-proto'];

const SPOOFED = new Set(SPOOFS.map(([, v]) => v));

/**
 * Values the upstream got that came from a spoof: one of them whole, or an address or host of
 * one inside another (a list). Whole values only for the short ones: a random WebSocket key or
 * request id may hold `/6` or `6666`.
 */
function spoofedValues(raw: readonly string[]): string[] {
  return raw.filter((v, i) => i % 2 === 1 && (SPOOFED.has(v) || v.includes('6.6.6.') || v.includes('evil.example')));
}

t.test('from an untrusted peer no spelling of a forwarding header reaches the upstream', async (t) => {
  const up = await startUpstream(t);
  let wsSeen: IncomingMessage | undefined;
  const ws = await startWsUpstream(t, (socket, req) => {
    wsSeen = req;
    socket.close();
  });
  const gw = await startGateway(t, {
    deployments: [
      { name: 'open', access: 'public', upstreams: [up.url] },
      { name: 'sock', access: 'public', upstreams: [ws.url] },
    ],
  });
  const spoofLines = SPOOFS.map(([n, v]) => `${n}: ${v}\r\n`).join('');

  const h1 = await rawRequest(gw.externalPort, `GET /h1 HTTP/1.1\r\nHost: ${hostOf('open')}\r\n${spoofLines}Connection: close\r\n\r\n`);
  t.equal(h1.status, 200, 'HTTP/1.1 served');
  const h1Seen = up.requests[up.requests.length - 1];
  t.same(forwardingNames(h1Seen.rawHeaders), OURS, 'HTTP/1.1: only the gateway\'s own');
  t.same(spoofedValues(h1Seen.rawHeaders), [], 'HTTP/1.1: no spoofed value');
  t.equal(h1Seen.headers['x-forwarded-for'], '127.0.0.1');

  const h2Headers: Record<string, string> = { ':authority': hostOf('open'), ':path': '/h2' };
  for (const [n, v] of SPOOFS) h2Headers[n.toLowerCase()] = v;
  const h2 = await h2Request(gw.external, h2Headers);
  t.equal(h2.status, 200, 'HTTP/2 served');
  const h2Seen = up.requests[up.requests.length - 1];
  t.same(forwardingNames(h2Seen.rawHeaders), OURS, 'HTTP/2: only the gateway\'s own');
  t.same(spoofedValues(h2Seen.rawHeaders), [], 'HTTP/2: no spoofed value');

  const client = new WebSocket(`ws://127.0.0.1:${gw.externalPort}/ws`, { headers: { host: hostOf('sock'), ...Object.fromEntries(SPOOFS) } });
  await new Promise<void>((resolve) => {
    client.on('error', () => resolve());
    client.on('close', () => resolve());
  });
  t.ok(wsSeen, 'the WebSocket reached its upstream');
  t.same(forwardingNames(wsSeen?.rawHeaders ?? []), OURS, 'WebSocket: only the gateway\'s own');
  t.same(spoofedValues(wsSeen?.rawHeaders ?? []), [], 'WebSocket: no spoofed value');
});

t.test('from a trusted proxy only the usual spellings are kept', async (t) => {
  const up = await startUpstream(t);
  const gw = await startGateway(t, {
    deployments: [{ name: 'open', access: 'public', upstreams: [up.url] }],
    extra: { trustedProxies: ['127.0.0.1/32'] },
  });
  const reply = await rawRequest(gw.externalPort, `GET / HTTP/1.1\r\nHost: ${hostOf('open')}\r\nX-Forwarded-For: 10.1.1.1\r\n`
    + `X_Forwarded_For: 6.6.6.6\r\nX-Real-IP: 10.1.1.1\r\nX_Real_IP: 6.6.6.7\r\nConnection: close\r\n\r\n`);
  t.equal(reply.status, 200);
  const seen = up.requests[up.requests.length - 1];
  t.equal(seen.headers['x-forwarded-for'], '10.1.1.1, 127.0.0.1', 'the proxy\'s X-Forwarded-For is appended to');
  t.equal(seen.headers['x-real-ip'], '10.1.1.1', 'its X-Real-IP kept');
  t.notMatch(JSON.stringify(seen.rawHeaders), /6\.6\.6/, 'other spellings dropped even from a trusted proxy');
});
