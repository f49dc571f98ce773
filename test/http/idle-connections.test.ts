import http2 from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import { join } from 'node:path';
import t from 'tap';
import { Listener } from '../../gateway/http/listener';
import { FIXTURES, type Teardown } from '../helpers/gateway';
import { CA } from '../helpers/raw-http';

const IDLE = 300;

/** A listener on a free port whose HTTP/2 streams answer after `delayMs` (0: at once). */
async function startListener(t: Teardown, delayMs = 0): Promise<Listener> {
  const listener = new Listener({ address: '127.0.0.1:0', host: '127.0.0.1', port: 0 }, {
    request: (_req, res) => res.end('h1'),
    stream: (stream) => {
      stream.on('error', () => undefined);
      setTimeout(() => {
        if (stream.destroyed) return;
        stream.respond({ ':status': 200 });
        stream.end('h2');
      }, delayMs);
    },
  }, { http2: true, idleTimeout: IDLE });
  await listener.listen();
  t.teardown(() => {
    listener.destroyAll();
    return listener.stopAccepting();
  });
  return listener;
}

/** Long enough for any idle close to have happened: a connection still open then was left open. */
const GIVE_UP = IDLE + 3_000;

/** ms from `since()` until the server closes `socket` (Infinity if it has not after GIVE_UP; -1 if since() is 0 then). */
function closeTime(socket: net.Socket, since: () => number): Promise<number> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      resolve(Infinity);
      socket.destroy();
    }, GIVE_UP);
    socket.on('error', reject);
    socket.resume();
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(since() === 0 ? -1 : Date.now() - since());
    });
  });
}

/** ms until the server closes a raw connection that has sent `bytes` (Infinity if it has not after GIVE_UP). */
function closedAfter(port: number, bytes: string): Promise<number> {
  const started = Date.now();
  const socket = net.connect(port, '127.0.0.1', () => { if (bytes) socket.write(bytes); });
  return closeTime(socket, () => started);
}

t.test('a connection that never says which protocol it speaks is closed once idle', async (t) => {
  const listener = await startListener(t);
  const silent = await closedAfter(listener.port, '');
  t.ok(silent >= IDLE - 50 && silent < IDLE + 1_000, `silent connection closed after ${silent} ms`);
  const partial = await closedAfter(listener.port, 'PRI * HT');
  t.ok(partial >= IDLE - 50 && partial < IDLE + 1_000, `half a preface: closed after ${partial} ms`);
});

t.test('an HTTP/2 session is closed once idle, but never while a stream is open', async (t) => {
  const listener = await startListener(t, IDLE * 3);
  const session = http2.connect(`http://127.0.0.1:${listener.port}`);
  session.on('error', () => undefined);
  t.teardown(() => session.destroy());
  const goaway = new Promise<number>((resolve) => {
    session.once('goaway', () => resolve(Date.now()));
    setTimeout(() => resolve(Infinity), IDLE * 3 + GIVE_UP).unref();
  });

  // One slow answer: silent for three idle periods, and the session must outlive it.
  const answered = await new Promise<string>((resolve, reject) => {
    const stream = session.request({ ':path': '/' });
    let body = '';
    stream.setEncoding('utf8');
    stream.on('data', (d: string) => { body += d; });
    stream.on('end', () => resolve(body));
    stream.on('error', reject);
  });
  const answeredAt = Date.now();
  t.equal(answered, 'h2', 'the slow stream completes on a session silent longer than the idle timeout');

  const closedAt = await goaway;
  const idleFor = closedAt - answeredAt;
  t.ok(idleFor >= IDLE - 50 && idleFor < IDLE + 1_000, `then the idle session got GOAWAY after ${idleFor} ms`);
});

t.test('an HTTP/1.1 keep-alive connection uses the same idle timeout', async (t) => {
  const listener = await startListener(t);
  const closed = await closedAfter(listener.port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  // Node's keep-alive close comes up to a second after keepAliveTimeout.
  t.ok(closed >= IDLE - 50 && closed < IDLE + 2_000, `closed ${closed} ms after its request`);
});

t.test('a TLS connection whose handshake never completes is closed once idle', async (t) => {
  const tlsFiles = { certFile: join(FIXTURES, 'tls', 'server.crt'), keyFile: join(FIXTURES, 'tls', 'server.key') };
  const listener = new Listener({ address: '127.0.0.1:0', host: '127.0.0.1', port: 0, tls: tlsFiles }, {
    request: (_req, res) => res.end('h1'),
  }, { http2: false, idleTimeout: IDLE });
  await listener.listen();
  t.teardown(() => {
    listener.destroyAll();
    return listener.stopAccepting();
  });
  const silent = await closedAfter(listener.port, '');
  t.ok(silent >= IDLE - 50 && silent < IDLE + 1_000, `silent connection closed after ${silent} ms`);
  // The first bytes of a ClientHello, and nothing more.
  const partial = await closedAfter(listener.port, '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03');
  t.ok(partial >= IDLE - 50 && partial < IDLE + 1_000, `half a ClientHello: closed after ${partial} ms`);
});

/** ms until the server closes a TLS connection that completed its handshake (ALPN `protocol`) and then sent nothing. */
async function silentAfterHandshake(port: number, protocol: string): Promise<{ closedAfter: number; alpn: string | false }> {
  let started = 0;
  const socket = tls.connect({ port, host: '127.0.0.1', ca: CA, servername: 'localhost', ALPNProtocols: [protocol] }, () => { started = Date.now(); });
  const closedAfter = await closeTime(socket, () => started);
  return { closedAfter, alpn: socket.alpnProtocol ?? false };
}

t.test('a TLS connection that completes its handshake and then sends nothing is closed once idle, h1 and h2', async (t) => {
  const tlsFiles = { certFile: join(FIXTURES, 'tls', 'server.crt'), keyFile: join(FIXTURES, 'tls', 'server.key') };
  // A data listener's shape (HTTP/2 beside HTTP/1.1) and the admin listener's (HTTP/1.1 only), both with TLS.
  for (const http2Enabled of [true, false]) {
    const listener = new Listener({ address: '127.0.0.1:0', host: '127.0.0.1', port: 0, tls: tlsFiles }, {
      request: (_req, res) => res.end('h1'),
      stream: (stream) => stream.respond({ ':status': 200 }, { endStream: true }),
    }, { http2: http2Enabled, idleTimeout: IDLE, requestHeadersTimeout: 60_000 });
    await listener.listen();
    t.teardown(() => {
      listener.destroyAll();
      return listener.stopAccepting();
    });
    for (const protocol of http2Enabled ? ['http/1.1', 'h2'] : ['http/1.1']) {
      const { closedAfter, alpn } = await silentAfterHandshake(listener.port, protocol);
      t.equal(alpn, protocol, `${http2Enabled ? 'h1+h2' : 'h1-only'} listener: ALPN chose ${protocol}`);
      t.ok(closedAfter >= IDLE - 50 && closedAfter < IDLE + 1_000, `${http2Enabled ? 'h1+h2' : 'h1-only'} listener, ${protocol}: closed ${closedAfter} ms after the handshake`);
    }
  }
});
