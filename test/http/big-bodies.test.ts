import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import t from 'tap';
import { hostOf, spawnGateway, writeConfig } from '../helpers/gateway';
import { startUpstream } from '../helpers/upstream';
import { cliEntry } from '../helpers/entry';

const MiB = 1024 * 1024;
const BIG = 200 * MiB;
const SMALL = 50 * MiB;
/**
 * Bodies stream, never held: the forked gateway's RSS growth while 200 MiB cross it stays
 * well under the body's size. It runs under tap's TypeScript loader (~250 MiB at rest), so
 * the growth is what is checked. Streaming alone grows it 85-105 MiB here (V8's young
 * generation and freed buffers not yet returned); a gateway holding the body would add 200.
 */
const RSS_GROWTH_LIMIT = 150 * MiB;
/**
 * 4× the bytes may take at most this many times as long. A copy that grows with what came
 * before (quadratic) takes 16×; linear streaming took 2.5-5× here, and up to 7.4× while
 * another test file streamed on the same two cores.
 */
const MAX_TIME_RATIO = 10;
/** Far beyond a healthy 200 MiB echo here (a few seconds). */
const STALL_MS = 20_000;

/** `total` bytes of a repeating pattern, in 64 KiB chunks, made lazily. */
function source(total: number): Readable {
  const chunk = Buffer.alloc(64 * 1024);
  for (let i = 0; i < chunk.length; i++) chunk[i] = (i * 31) % 251;
  let left = total;
  return new Readable({
    read() {
      if (left <= 0) return void this.push(null);
      const n = Math.min(left, chunk.length);
      left -= n;
      this.push(n === chunk.length ? chunk : chunk.subarray(0, n));
    },
  });
}

/** Resident memory of a process, from /proc. */
function rssOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? 0) * 1024;
}

t.test('large bodies through a separate gateway process', async (t) => {
  const up = await startUpstream(t, (req, res) => {
    if (req.url?.startsWith('/download/')) {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      void pipeline(source(Number(req.url.slice('/download/'.length))), res).catch(() => undefined);
      return;
    }
    if (req.url === '/echo') {
      // Echoes while still reading: a full-duplex exchange.
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      req.pipe(res);
      return;
    }
    let received = 0;
    req.on('data', (c: Buffer) => { received += c.length; });
    req.on('end', () => res.end(JSON.stringify({ received })));
  });
  const { file } = writeConfig({ deployments: [{ name: 'bulk', access: 'public', upstreams: [up.url] }] });
  const gw = await spawnGateway(t, file);
  const pid = gw.child.pid as number;
  const port = gw.ports.external;
  const host = hostOf('bulk');
  const expectedSha1 = async (n: number): Promise<string> => {
    const hash = createHash('sha1');
    for await (const c of source(n)) hash.update(c as Buffer);
    return hash.digest('hex');
  };
  const startRss = rssOf(pid);
  let peakRss = startRss;
  const sampler = setInterval(() => { peakRss = Math.max(peakRss, rssOf(pid)); }, 25);
  t.teardown(() => clearInterval(sampler));

  const uploadH1 = (n: number): Promise<{ received: number }> => new Promise((resolve, reject) => {
    const req = http.request({ port, host: '127.0.0.1', method: 'PUT', path: '/upload', headers: { host, 'content-length': n } }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => { body += c.toString(); });
      res.on('end', () => resolve(JSON.parse(body) as { received: number }));
    });
    req.on('error', reject);
    source(n).pipe(req);
  });

  t.test('200 MiB HTTP/1.1 upload', async (t) => {
    const r = await uploadH1(BIG);
    t.equal(r.received, BIG, 'every byte arrives');
  });

  t.test('200 MiB HTTP/1.1 chunked download', async (t) => {
    const received = await new Promise<number>((resolve, reject) => {
      http.get({ port, host: '127.0.0.1', path: `/download/${BIG}`, headers: { host } }, (res) => {
        let n = 0;
        res.on('data', (c: Buffer) => { n += c.length; });
        res.on('end', () => resolve(n));
        res.on('error', reject);
      }).on('error', reject);
    });
    t.equal(received, BIG);
  });

  const session = http2.connect(`http://127.0.0.1:${port}`);
  t.teardown(() => session.close());

  const uploadH2 = (n: number): Promise<{ ms: number; received: number }> => new Promise((resolve, reject) => {
    const started = performance.now();
    const stream = session.request({ ':method': 'POST', ':path': '/upload', ':authority': host });
    let body = '';
    stream.on('data', (c: Buffer) => { body += c.toString(); });
    stream.on('end', () => resolve({ ms: performance.now() - started, received: (JSON.parse(body) as { received: number }).received }));
    stream.on('error', reject);
    source(n).pipe(stream);
  });

  const echoH2 = (n: number): Promise<{ ms: number; received: number; sha1: string }> => new Promise((resolve, reject) => {
    const started = performance.now();
    const stream = session.request({ ':method': 'POST', ':path': '/echo', ':authority': host });
    let received = 0;
    const hash = createHash('sha1');
    stream.on('data', (c: Buffer) => { received += c.length; hash.update(c); });
    // A crawling exchange fails here rather than at tap's file timeout.
    const deadline = setTimeout(() => { stream.destroy(); reject(new Error(`echo stalled after ${received} bytes`)); }, STALL_MS);
    stream.on('end', () => { clearTimeout(deadline); resolve({ ms: performance.now() - started, received, sha1: hash.digest('hex') }); });
    stream.on('error', reject);
    source(n).pipe(stream);
  });

  t.test('HTTP/2 upload to an HTTP/1.1 upstream: 200 MiB, linear time', async (t) => {
    await uploadH2(4 * MiB);
    const small = await uploadH2(SMALL);
    const big = await uploadH2(BIG);
    t.equal(small.received, SMALL);
    t.equal(big.received, BIG, 'every byte of 200 MiB arrives');
    const ratio = big.ms / small.ms;
    t.ok(ratio < MAX_TIME_RATIO, `50 MiB in ${Math.round(small.ms)} ms, 200 MiB in ${Math.round(big.ms)} ms (ratio ${ratio.toFixed(2)})`);
  });

  t.test('HTTP/2 full-duplex echo through an HTTP/1.1 upstream: 200 MiB, linear time', async (t) => {
    await echoH2(4 * MiB);
    const small = await echoH2(SMALL);
    const big = await echoH2(BIG);
    t.equal(small.received, SMALL);
    t.equal(big.received, BIG, 'the whole echo comes back, not truncated');
    t.equal(big.sha1, await expectedSha1(BIG), 'unchanged');
    const ratio = big.ms / small.ms;
    t.ok(ratio < MAX_TIME_RATIO, `50 MiB in ${Math.round(small.ms)} ms, 200 MiB in ${Math.round(big.ms)} ms (ratio ${ratio.toFixed(2)})`);
  });

  t.test('the gateway process memory stayed flat', async (t) => {
    const growth = peakRss - startRss;
    t.ok(growth < RSS_GROWTH_LIMIT, `RSS grew by ${Math.round(growth / MiB)} MiB at most (from ${Math.round(startRss / MiB)} MiB)`);
    // `npm test` builds first, so the gateway runs compiled, as in production: then the contract's own bound applies.
    if (cliEntry('serve.ts').execArgv?.length === 0) {
      t.ok(peakRss < 300 * MiB, `peak RSS ${Math.round(peakRss / MiB)} MiB stays under 300 MiB`);
    }
  });
});
