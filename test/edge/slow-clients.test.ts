import { execFileSync } from 'node:child_process';
import http2 from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import t from 'tap';
import { CA } from '../helpers/raw-http';
import { hostOf, spawnGateway, startGateway, writeConfig } from '../helpers/gateway';
import { get } from '../helpers/http';
import { within } from '../helpers/ops';
import { startUpstream } from '../helpers/upstream';

const HEADERS_TIMEOUT = 600;
const BODY_IDLE = 600;

interface Held {
  /** ms from connecting until the server closed the connection (Infinity: still open at `giveUpMs`). */
  readonly closedAfter: number;
  readonly text: string;
}

/** Connects (TLS when `secure`), writes `bytes`, then goes silent; resolves when the server closes or at `giveUpMs`. */
function holdOpen(port: number, bytes: string, giveUpMs: number, secure = false, connected?: () => void): Promise<Held> {
  return new Promise((resolve) => {
    const started = Date.now();
    let text = '';
    const socket: net.Socket = secure
      ? tls.connect({ port, host: '127.0.0.1', ca: CA, servername: 'localhost', ALPNProtocols: ['http/1.1'] }, () => socket.write(bytes))
      : net.connect(port, '127.0.0.1', () => {
        if (bytes) socket.write(bytes);
        connected?.();
      });
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ closedAfter: Infinity, text });
    }, giveUpMs);
    socket.on('data', (d: Buffer) => { text += d.toString('latin1'); });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ closedAfter: Date.now() - started, text });
    });
  });
}

const TRICKLED = (host: string): string => `GET / HTTP/1.1\r\nHost: ${host}\r\nX-A: `;

t.test('headers not complete timeouts.requestHeaders after the first byte: 408 and closed, on every listener', async (t) => {
  const up = await startUpstream(t);
  const deployments = [{ name: 'open', access: 'public' as const, upstreams: [up.url] }];
  const extra = { timeouts: { requestHeaders: `${HEADERS_TIMEOUT}ms` } };
  const gw = await startGateway(t, { deployments, extra });
  const tlsGw = await startGateway(t, { deployments, extra, tls: true });
  const giveUp = HEADERS_TIMEOUT + 5_000;
  const cases: [string, Promise<Held>][] = [
    ['external', holdOpen(gw.externalPort, TRICKLED(hostOf('open')), giveUp)],
    ['internal', holdOpen(gw.internalPort, TRICKLED(hostOf('open')), giveUp)],
    ['admin', holdOpen(gw.adminPort, TRICKLED('127.0.0.1'), giveUp)],
    ['external TLS', holdOpen(tlsGw.externalPort, TRICKLED(hostOf('open')), giveUp, true)],
  ];
  for (const [name, held] of cases) {
    const { closedAfter, text } = await held;
    t.ok(closedAfter >= HEADERS_TIMEOUT - 50 && closedAfter < HEADERS_TIMEOUT + 2_500, `${name}: closed after ${closedAfter} ms`);
    t.match(text, /^HTTP\/1\.1 408 /, `${name}: answered 408`);
  }
  t.equal(up.requests.length, 0, 'nothing reached the upstream');
  const timedOut = gw.logs.filter((l) => l.reason === 'request_timeout');
  t.ok(timedOut.length >= 3, 'each got a log line');
  t.ok(timedOut.every((l) => l.status === 408 && typeof l.request_id === 'string'), 'with status and request id');
});

t.test('a reload (SIGHUP) applies a new timeouts.requestHeaders to requests that start afterwards', async (t) => {
  const up = await startUpstream(t);
  const options = { deployments: [{ name: 'open', access: 'public' as const, upstreams: [up.url] }], extra: { timeouts: { requestHeaders: '60s' } } };
  const gw = await startGateway(t, options);
  const before = await holdOpen(gw.externalPort, TRICKLED(hostOf('open')), HEADERS_TIMEOUT + 1_000);
  t.equal(before.closedAfter, Infinity, 'at 60s, a trickled request is still waited for');

  writeConfig({ ...options, dir: gw.dir, extra: { timeouts: { requestHeaders: `${HEADERS_TIMEOUT}ms` } } });
  await gw.gateway.reload();
  const giveUp = HEADERS_TIMEOUT + 5_000;
  const [external, admin] = await Promise.all([
    holdOpen(gw.externalPort, TRICKLED(hostOf('open')), giveUp),
    holdOpen(gw.adminPort, TRICKLED('127.0.0.1'), giveUp),
  ]);
  for (const [name, held] of [['external', external], ['admin', admin]] as const) {
    t.ok(held.closedAfter >= HEADERS_TIMEOUT - 50 && held.closedAfter < HEADERS_TIMEOUT + 2_500, `${name}: closed after ${held.closedAfter} ms`);
    t.match(held.text, /^HTTP\/1\.1 408 /, `${name}: answered 408`);
  }
});

t.test('a connection that never sends a byte is closed once idle, the admin listener included', async (t) => {
  const { Listener } = await import('../../gateway/http/listener');
  const idle = 300;
  const listener = new Listener({ address: '127.0.0.1:0', host: '127.0.0.1', port: 0 }, { request: (_req, res) => res.end('x') },
    { http2: false, idleTimeout: idle, requestHeadersTimeout: 60_000 });
  await listener.listen();
  t.teardown(() => {
    listener.destroyAll();
    return listener.stopAccepting();
  });
  const { closedAfter } = await holdOpen(listener.port, '', idle + 3_000);
  t.ok(closedAfter >= idle - 50 && closedAfter < idle + 1_500, `closed after ${closedAfter} ms`);
  // The headers deadline counts from the first byte, not from the connection.
  const late = await new Promise<string>((resolve) => {
    const socket = net.connect(listener.port, '127.0.0.1');
    let text = '';
    socket.on('data', (d: Buffer) => { text += d.toString(); });
    socket.on('close', () => resolve(text));
    setTimeout(() => socket.write('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'), idle / 2);
  });
  t.match(late, /^HTTP\/1\.1 200 /, 'a request that starts late (but before idle) is served');
});

t.test('a kept-alive connection waiting between requests is idle, not slow: no 408', async (t) => {
  const { Listener } = await import('../../gateway/http/listener');
  const listener = new Listener({ address: '127.0.0.1:0', host: '127.0.0.1', port: 0 }, { request: (_req, res) => res.end('x') },
    { http2: true, idleTimeout: 5_000, requestHeadersTimeout: 300 });
  await listener.listen();
  t.teardown(() => {
    listener.destroyAll();
    return listener.stopAccepting();
  });
  const text = await new Promise<string>((resolve) => {
    const socket = net.connect(listener.port, '127.0.0.1');
    let text = '';
    socket.on('data', (d: Buffer) => { text += d.toString(); });
    socket.on('close', () => resolve(text));
    socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    setTimeout(() => socket.write('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'), 1_200);
  });
  t.same([...text.matchAll(/HTTP\/1\.1 (\d+)/g)].map((m) => m[1]), ['200', '200'], 'both requests served');
});

t.test('a request body that stalls for timeouts.idle ends the request, allowed or refused', async (t) => {
  const up = await startUpstream(t, (req, res) => {
    req.resume();
    req.on('end', () => res.end('done'));
  });
  const gw = await startGateway(t, {
    deployments: [
      { name: 'open', access: 'public', upstreams: [up.url] },
      { name: 'guarded', access: 'protected', upstreams: [up.url] },
    ],
    extra: { timeouts: { idle: `${BODY_IDLE}ms` } },
  });
  const head = (host: string): string => `POST / HTTP/1.1\r\nHost: ${host}\r\nContent-Length: 1000\r\n\r\n0123456789`;
  const giveUp = BODY_IDLE * 2 + 5_000;
  const [allowed, refused] = await Promise.all([
    holdOpen(gw.externalPort, head(hostOf('open')), giveUp),
    holdOpen(gw.externalPort, head(hostOf('guarded')), giveUp),
  ]);
  t.ok(allowed.closedAfter >= BODY_IDLE - 50 && allowed.closedAfter < BODY_IDLE * 2 + 2_000, `allowed: closed after ${allowed.closedAfter} ms`);
  t.ok(refused.closedAfter >= BODY_IDLE - 50 && refused.closedAfter < BODY_IDLE * 2 + 2_000, `refused: closed after ${refused.closedAfter} ms`);
  t.match(refused.text, /^HTTP\/1\.1 401 /, 'the refused one had its answer first');

  // A body that keeps arriving, slower than one idle period in total, is not cut.
  const slow = await new Promise<string>((resolve) => {
    const socket = net.connect(gw.externalPort, '127.0.0.1');
    let text = '';
    socket.on('data', (d: Buffer) => { text += d.toString(); });
    socket.on('close', () => resolve(text));
    socket.write(`POST / HTTP/1.1\r\nHost: ${hostOf('open')}\r\nContent-Length: 6\r\nConnection: close\r\n\r\n`);
    let sent = 0;
    const tick = setInterval(() => {
      socket.write('x');
      if (++sent === 6) clearInterval(tick);
    }, BODY_IDLE / 3);
  });
  t.match(slow, /^HTTP\/1\.1 200 [^]*done$/, 'a slow but moving body is served');

  // HTTP/2: a stream whose body never ends is reset once idle (allowed), or closed after its answer (refused).
  const session = http2.connect(gw.external);
  session.on('error', () => undefined);
  t.teardown(() => session.destroy());
  const open = async (authority: string): Promise<{ status: number; after: number }> => {
    const stream = session.request({ ':method': 'POST', ':path': '/', ':authority': authority }, { endStream: false });
    stream.write('partial');
    const started = Date.now();
    return new Promise((resolve) => {
      let status = 0;
      stream.on('response', (h) => { status = Number(h[':status']); });
      stream.on('error', () => undefined);
      stream.resume();
      stream.on('close', () => resolve({ status, after: Date.now() - started }));
    });
  };
  const [h2Allowed, h2Refused] = await Promise.all([open(hostOf('open')), open(hostOf('guarded'))]);
  t.ok(h2Allowed.after >= BODY_IDLE - 50 && h2Allowed.after < BODY_IDLE * 2 + 2_000, `h2 allowed: stream reset after ${h2Allowed.after} ms`);
  t.equal(h2Refused.status, 401, 'h2 refused: answered');
  t.ok(h2Refused.after < BODY_IDLE * 2 + 2_000, `h2 refused: stream closed after ${h2Refused.after} ms`);
});

t.test('hundreds of slow clients against a low descriptor limit: normal requests keep being served', async (t) => {
  const up = await startUpstream(t);
  const { file } = writeConfig({
    deployments: [{ name: 'open', access: 'public', upstreams: [up.url] }],
    extra: { timeouts: { requestHeaders: '1s' } },
  });
  const gw = await spawnGateway(t, file);
  const pid = gw.child.pid as number;
  execFileSync('prlimit', ['--pid', String(pid), '--nofile=200:200']);
  const url = `http://127.0.0.1:${gw.ports.external}/`;
  const host = { host: hostOf('open') };
  t.equal((await get(url, host)).status, 200, 'served before the flood');

  const slow: Promise<Held>[] = [];
  let connected = 0;
  for (let i = 0; i < 250; i++) slow.push(holdOpen(gw.ports.external, TRICKLED(hostOf('open')), 20_000, false, () => connected++));
  const ok = async (): Promise<boolean> => {
    try {
      return (await get(url, host)).status === 200;
    } catch {
      return false;
    }
  };
  // Every slow client is connected (past the descriptor limit, the rest wait in the accept queue) before normal traffic is judged.
  t.not(await within(10_000, async () => connected === 250, Date.now(), 20), null, 'all 250 slow clients connected');
  // While the slow ones are cut (each a second after its first byte) new requests get descriptors again:
  // ten normal requests in a row are served, well before the slow clients would give up (20 s).
  const started = Date.now();
  let streak = 0;
  while (streak < 10 && Date.now() - started < 15_000) {
    if (await ok()) streak++;
    else {
      streak = 0;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  t.equal(streak, 10, `ten normal requests in a row were served ${Date.now() - started} ms into the flood`);
  const held = await Promise.all(slow);
  t.ok(held.every((h) => h.closedAfter < 20_000), 'every slow connection was closed by the gateway');
  t.equal(gw.child.exitCode, null, 'the gateway is still running');
});
