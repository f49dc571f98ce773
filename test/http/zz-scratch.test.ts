import http2 from 'node:http2';
import { Readable } from 'node:stream';
import t from 'tap';
import { hostOf, startGateway } from '../helpers/gateway';
import { startUpstream } from '../helpers/upstream';
function source(total: number): Readable {
  const chunk = Buffer.alloc(64 * 1024, 7);
  let left = total;
  return new Readable({ read() { if (left <= 0) return void this.push(null); const n = Math.min(left, chunk.length); left -= n; this.push(chunk.subarray(0, n)); } });
}
t.test('echo', async (t) => {
  let upIn = 0, upOut = 0;
  const up = await startUpstream(t, (req, res) => { res.writeHead(200); if (req.url!.startsWith('/dl/')) { source(Number(req.url!.slice(4))).pipe(res); return; } req.on('data', (c: Buffer) => { upIn += c.length; }); req.pipe(res); const w = res.write.bind(res); (res as any).write = (c: Buffer, ...a: any[]) => { upOut += c.length; return w(c, ...a); }; });
  const gw = await startGateway(t, { deployments: [{ name: 'bulk', access: 'public', upstreams: [up.url] }] });
  const session = http2.connect(gw.external);
  for (const n of [4, 16, 64]) {
    const total = n * 1024 * 1024;
    let got = 0;
    const started = performance.now();
    const ok = await new Promise<boolean>((resolve) => {
      const stream = session.request({ ':method': 'GET', ':path': '/dl/' + total, ':authority': hostOf('bulk') });
      stream.on('data', (c: Buffer) => { got += c.length; });
      stream.on('end', () => resolve(true));
      setTimeout(() => resolve(false), 5000);
    });
    console.log('h2 download', n, 'MiB', ok, Math.round(performance.now() - started), 'ms', { got });
  }
  for (const n of [1, 4, 16, 64]) {
    const total = n * 1024 * 1024;
    let sent = 0, got = 0;
    const started = performance.now();
    const ok = await new Promise<boolean>((resolve) => {
      const stream = session.request({ ':method': 'POST', ':path': '/echo', ':authority': hostOf('bulk') });
      stream.on('data', (c: Buffer) => { got += c.length; });
      stream.on('end', () => resolve(true));
      const src = source(total); src.on('data', (c: Buffer) => { sent += c.length; });
      src.pipe(stream);
      setTimeout(() => resolve(false), 5000);
    });
    console.log(n, 'MiB', ok, Math.round(performance.now() - started), 'ms', { sent, upIn, upOut, got });
    upIn = 0; upOut = 0;
    if (!ok) break;
  }
  session.destroy();
  const http = await import('node:http');
  for (const n of [4, 16, 64]) {
    const total = n * 1024 * 1024;
    let got = 0;
    const started = performance.now();
    const ok = await new Promise<boolean>((resolve) => {
      const req = http.request({ port: gw.externalPort, host: '127.0.0.1', method: 'POST', path: '/echo', headers: { host: hostOf('bulk'), 'content-length': total } }, (res) => {
        res.on('data', (c: Buffer) => { got += c.length; });
        res.on('end', () => resolve(true));
      });
      source(total).pipe(req);
      setTimeout(() => resolve(false), 5000);
    });
    console.log('h1', n, 'MiB', ok, Math.round(performance.now() - started), 'ms', { upIn, upOut, got });
    upIn = 0; upOut = 0;
    if (!ok) break;
  }
});
