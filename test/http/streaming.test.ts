import http from 'node:http';
import http2 from 'node:http2';
import t from 'tap';
import { hostOf, startGateway } from '../helpers/gateway';
import { startUpstream } from '../helpers/upstream';

const EVENTS = 4;
const EVENT_EVERY_MS = 1_000;

t.test('streaming through the gateway', async (t) => {
  let upstreamClosed: (() => void) | undefined;
  let uploadSeen: (() => void) | undefined;
  let sseEndedAt = 0;
  const up = await startUpstream(t, (req, res) => {
    if (req.url === '/sse') {
      // First event at once, the rest a second apart: the stream ends after ≥ 3 s.
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      let n = 0;
      const send = (): void => {
        res.write(`data: {"n": ${n}}\n\n`);
        if (++n === EVENTS) { sseEndedAt = performance.now(); res.end(); } else timer = setTimeout(send, EVENT_EVERY_MS);
      };
      let timer = setTimeout(send, 0);
      req.on('close', () => clearTimeout(timer));
      return;
    }
    if (req.url === '/echo-chunks') {
      // Echoes every chunk as it comes, chunked, before the request has ended.
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      req.on('data', (c: Buffer) => res.write(c));
      req.on('end', () => res.end());
      return;
    }
    if (req.url === '/hang') {
      // Starts a response and never ends it; the test aborts.
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('started');
      res.on('close', () => upstreamClosed?.());
      return;
    }
    if (req.url === '/upload-hang') {
      // Reads the body and never answers; tells the test once bytes arrive, and when the request goes away.
      req.on('data', () => uploadSeen?.());
      res.on('close', () => upstreamClosed?.());
      return;
    }
    if (req.url === '/slow-head') {
      // Never answers: the client gives up before any header.
      res.on('close', () => upstreamClosed?.());
      return;
    }
    res.writeHead(404).end();
  });
  const gw = await startGateway(t, { deployments: [{ name: 'open', access: 'public', upstreams: [up.url] }] });

  t.test('SSE: the first event arrives long before the upstream finishes (HTTP/1.1)', async (t) => {
    const started = performance.now();
    const arrivals: number[] = [];
    await new Promise<void>((resolve, reject) => {
      const req = http.get({ port: gw.externalPort, host: '127.0.0.1', path: '/sse', headers: { host: hostOf('open') } }, (res) => {
        t.equal(res.statusCode, 200);
        t.equal(res.headers['content-type'], 'text/event-stream');
        res.on('data', (c: Buffer) => {
          for (const _ of c.toString().matchAll(/^data: /gm)) arrivals.push(performance.now() - started);
        });
        res.on('end', resolve);
      });
      req.on('error', reject);
    });
    t.equal(arrivals.length, EVENTS, 'every event arrives');
    t.ok(arrivals[0] < 1_000, `first event after ${Math.round(arrivals[0])} ms, while the stream lasts ≥ 3 s`);
    t.ok(sseEndedAt - started >= 2_900, 'the upstream really took ≥ 3 s');
    t.ok(arrivals[1] - arrivals[0] > 500, 'events are not batched');
  });

  t.test('SSE over HTTP/2 (h2c)', async (t) => {
    const session = http2.connect(gw.external);
    t.teardown(() => session.close());
    const started = performance.now();
    const arrivals: number[] = [];
    await new Promise<void>((resolve, reject) => {
      const stream = session.request({ ':path': '/sse', ':authority': hostOf('open') });
      stream.on('response', (h) => t.equal(h[':status'], 200));
      stream.on('data', (c: Buffer) => {
        for (const _ of c.toString().matchAll(/^data: /gm)) arrivals.push(performance.now() - started);
      });
      stream.on('end', resolve);
      stream.on('error', reject);
    });
    t.equal(arrivals.length, EVENTS);
    t.ok(arrivals[0] < 1_000, `first event after ${Math.round(arrivals[0])} ms`);
  });

  t.test('chunked request and response bodies stream both ways (full duplex)', async (t) => {
    const reply: string[] = [];
    await new Promise<void>((resolve, reject) => {
      const req = http.request({
        port: gw.externalPort, host: '127.0.0.1', method: 'POST', path: '/echo-chunks',
        headers: { host: hostOf('open'), 'transfer-encoding': 'chunked' },
      }, (res) => {
        t.equal(res.headers['transfer-encoding'], 'chunked', 'the answer is chunked');
        res.on('data', (c: Buffer) => {
          reply.push(c.toString());
          // Each chunk goes out only once the previous one came back: impossible if either side buffered.
          if (reply.join('').length < 5 * 6) req.write(`part${reply.join('').length / 6 + 1}|`);
          else req.end();
        });
        res.on('end', resolve);
      });
      req.on('error', reject);
      req.write('part1|');
    });
    t.equal(reply.join(''), 'part1|part2|part3|part4|part5|');
  });

  for (const [name, path] of [['mid-body', '/hang'], ['before the response head', '/slow-head']] as const) {
    t.test(`an HTTP/1.1 client abort ${name} cancels the upstream request at once`, async (t) => {
      const closed = new Promise<number>((resolve) => { upstreamClosed = () => resolve(performance.now()); });
      const req = http.get({ port: gw.externalPort, host: '127.0.0.1', path, headers: { host: hostOf('open') } });
      req.on('error', () => undefined);
      if (path === '/hang') await new Promise<void>((resolve) => req.on('response', (res) => res.once('data', () => resolve())));
      else await new Promise((resolve) => setTimeout(resolve, 200));
      const abortedAt = performance.now();
      req.destroy();
      const at = await Promise.race([closed, new Promise<number>((resolve) => setTimeout(() => resolve(Infinity), 2_000))]);
      t.ok(at - abortedAt < 1_000, `upstream saw the cancellation after ${Math.round(at - abortedAt)} ms`);
    });

    t.test(`an HTTP/2 client abort ${name} cancels the upstream request at once`, async (t) => {
      const closed = new Promise<number>((resolve) => { upstreamClosed = () => resolve(performance.now()); });
      const session = http2.connect(gw.external);
      t.teardown(() => session.destroy());
      const stream = session.request({ ':path': path, ':authority': hostOf('open') });
      stream.on('error', () => undefined);
      if (path === '/hang') await new Promise((resolve) => stream.once('data', resolve));
      else await new Promise((resolve) => setTimeout(resolve, 200));
      const abortedAt = performance.now();
      stream.close(http2.constants.NGHTTP2_CANCEL);
      const at = await Promise.race([closed, new Promise<number>((resolve) => setTimeout(() => resolve(Infinity), 2_000))]);
      t.ok(at - abortedAt < 1_000, `upstream saw the cancellation after ${Math.round(at - abortedAt)} ms`);
      t.notOk(session.destroyed, 'the session itself stays up');
    });
  }

  t.test('a client abort mid-upload cancels the upstream request at once (HTTP/1.1 and HTTP/2)', async (t) => {
    for (const proto of ['h1', 'h2'] as const) {
      const closed = new Promise<number>((resolve) => { upstreamClosed = () => resolve(performance.now()); });
      const seen = new Promise<void>((resolve) => { uploadSeen = resolve; });
      let abort: () => void;
      if (proto === 'h1') {
        const req = http.request({
          port: gw.externalPort, host: '127.0.0.1', method: 'PUT', path: '/upload-hang',
          headers: { host: hostOf('open'), 'content-length': 10 * 1024 * 1024 },
        });
        req.on('error', () => undefined);
        req.write(Buffer.alloc(256 * 1024));
        abort = () => req.destroy();
      } else {
        const session = http2.connect(gw.external);
        t.teardown(() => session.destroy());
        const stream = session.request({ ':method': 'PUT', ':path': '/upload-hang', ':authority': hostOf('open') });
        stream.on('error', () => undefined);
        stream.write(Buffer.alloc(256 * 1024));
        abort = () => stream.close(http2.constants.NGHTTP2_CANCEL);
      }
      await seen;
      const abortedAt = performance.now();
      abort();
      const at = await Promise.race([closed, new Promise<number>((resolve) => setTimeout(() => resolve(Infinity), 2_000))]);
      t.ok(at - abortedAt < 1_000, `${proto}: upstream saw the cancellation after ${Math.round(at - abortedAt)} ms`);
    }
  });

  t.test('the gateway logs a client abort', async (t) => {
    t.ok(gw.logs.some((l) => l.msg === 'request' && l.reason === 'client_aborted'));
  });
});
