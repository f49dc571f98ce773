import { execFile } from 'node:child_process';
import http2 from 'node:http2';
import { promisify } from 'node:util';
import t from 'tap';
import { hostOf, startGateway } from '../helpers/gateway';
import { startUpstream } from '../helpers/upstream';

const run = promisify(execFile);

/** An HTTP/2 POST that sends its body only after a `:status 100` (0 for `continued` if none came within 3 s). */
function expectContinue(origin: string, headers: http2.OutgoingHttpHeaders): Promise<{ continued: boolean; status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(origin);
    session.on('error', reject);
    const stream = session.request({ ':method': 'POST', ':path': '/', expect: '100-continue', ...headers }, { endStream: false });
    let continued = false;
    let status = 0;
    let body = '';
    const timer = setTimeout(() => stream.end('late body'), 3_000);
    stream.on('continue', () => {
      continued = true;
      clearTimeout(timer);
      stream.end('hello');
    });
    stream.on('response', (h) => {
      status = Number(h[':status']);
      clearTimeout(timer);
      if (!stream.writableEnded) stream.end();
    });
    stream.setEncoding('utf8');
    stream.on('data', (d: string) => { body += d; });
    stream.on('end', () => { session.close(); resolve({ continued, status, body }); });
    stream.on('error', reject);
  });
}

t.test('HTTP/2 Expect: 100-continue: an allowed request gets a 100 before its body, a refused one only its refusal', async (t) => {
  const up = await startUpstream(t);
  const gw = await startGateway(t, {
    deployments: [
      { name: 'open', access: 'public', upstreams: [up.url] },
      { name: 'guarded', access: 'protected', upstreams: [up.url] },
    ],
  });
  const allowed = await expectContinue(gw.external, { ':authority': hostOf('open') });
  t.ok(allowed.continued, 'the client was told to send its body');
  t.equal(allowed.status, 200);
  t.equal((JSON.parse(allowed.body) as { bodyLength: number }).bodyLength, 5, 'and the body arrived');
  const refused = await expectContinue(gw.external, { ':authority': hostOf('guarded') });
  t.notOk(refused.continued, 'a refused request is not invited to send its body');
  t.equal(refused.status, 401);
});

t.test('HTTP/2 request with two Authorization fields: refused as malformed, as on HTTP/1.1', async (t) => {
  const up = await startUpstream(t);
  const gw = await startGateway(t, { deployments: [{ name: 'guarded', access: 'protected', upstreams: [up.url] }] });
  const { secret } = await gw.mint({ user: ['guarded'] });
  // Node's http2 client refuses to send a repeated Authorization; curl sends what it is given.
  const status = async (...auth: string[]): Promise<number> => {
    const flags = auth.flatMap((a) => ['-H', `Authorization: ${a}`]);
    const { stdout } = await run('curl', [
      '-sS', '--max-time', '10', '--http2-prior-knowledge', '-o', '/dev/null', '-w', '%{http_code}',
      '-H', `Host: ${hostOf('guarded')}`, ...flags, `${gw.external}/`,
    ]);
    return Number(stdout);
  };
  t.equal(await status(`Bearer ${secret}`), 200, 'one valid token: allowed');
  t.equal(await status(`Bearer ${secret}`, 'Bearer gth_other'), 401, 'valid first, another second: refused');
  t.equal(await status(`Bearer ${secret}`, `Bearer ${secret}`), 401, 'the same token twice: refused, as HTTP/1.1 does');
  t.equal(up.requests.length, 1, 'only the single-token request was forwarded');
});

/** Resolves once `check` holds, rejects after `ms`. */
async function until(check: () => boolean, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

t.test('HTTP/2 rapid reset: hundreds of streams opened and reset leave no request counted in flight', async (t) => {
  const up = await startUpstream(t, (req, res) => {
    req.resume();
    setTimeout(() => res.end('late'), 300);
  });
  const gw = await startGateway(t, { deployments: [{ name: 'slow', access: 'public', upstreams: [up.url] }] });
  const runtime = gw.gateway.runtime;
  for (const resetAfter of [-1, 0, 30]) {
    const session = http2.connect(gw.external);
    session.on('error', () => undefined);
    const closed = [];
    for (let i = 0; i < 300; i++) {
      const stream = session.request({ ':authority': hostOf('slow'), ':path': `/${i}` });
      stream.on('error', () => undefined);
      closed.push(new Promise((resolve) => stream.once('close', resolve)));
      const reset = (): void => void stream.close(http2.constants.NGHTTP2_CANCEL);
      if (resetAfter < 0) reset();
      else setTimeout(reset, resetAfter);
    }
    await Promise.all(closed);
    session.destroy();
    await until(() => runtime.inflight === 0);
    t.equal(runtime.inflight, 0, `reset ${resetAfter < 0 ? 'at once' : `after ${resetAfter} ms`}: nothing left in flight`);
  }
  const session = http2.connect(gw.external);
  t.teardown(() => session.destroy());
  const status = await new Promise<number>((resolve, reject) => {
    const stream = session.request({ ':authority': hostOf('slow') });
    stream.on('response', (h) => resolve(Number(h[':status'])));
    stream.on('error', reject);
    stream.resume();
  });
  t.equal(status, 200, 'and the gateway still serves');
});

t.test('one HTTP/2 connection cannot fan out unbounded upstream requests: a concurrent-stream limit is advertised and kept', async (t) => {
  const held: (() => void)[] = [];
  const up = await startUpstream(t, (req, res) => {
    req.resume();
    held.push(() => res.end('ok'));
  });
  const gw = await startGateway(t, { deployments: [{ name: 'slow', access: 'public', upstreams: [up.url] }] });
  const session = http2.connect(gw.external);
  session.on('error', () => undefined);
  t.teardown(() => session.destroy());
  await new Promise((resolve) => session.once('remoteSettings', resolve));
  const limit = session.remoteSettings.maxConcurrentStreams ?? Infinity;
  t.ok(limit <= 256, `the gateway advertises a limit (${limit})`);
  const statuses: Promise<number>[] = [];
  for (let i = 0; i < 400; i++) {
    statuses.push(new Promise((resolve) => {
      const stream = session.request({ ':authority': hostOf('slow'), ':path': `/${i}` });
      stream.on('response', (h) => resolve(Number(h[':status'])));
      stream.on('error', () => resolve(0));
      stream.on('close', () => resolve(0));
      stream.resume();
    }));
  }
  await new Promise((resolve) => setTimeout(resolve, 500));
  t.ok(up.requests.length <= limit, `at most the limit reached the upstream at once (${up.requests.length})`);
  // Released in rounds: the streams the client held back go out as earlier ones finish.
  while (up.requests.length < 400 || held.length > 0) {
    for (const release of held.splice(0)) release();
    await new Promise((resolve) => setTimeout(resolve, 50));
    if (held.length === 0 && up.requests.length < 400) await until(() => held.length > 0 || up.requests.length >= 400);
  }
  t.same([...new Set(await Promise.all(statuses))], [200], 'every request was served in the end');
});

t.test('HTTP/2 HEAD: a refusal has headers only, and the session goes on', async (t) => {
  const up = await startUpstream(t);
  const gw = await startGateway(t, { deployments: [{ name: 'guarded', access: 'protected', upstreams: [up.url] }] });
  const session = http2.connect(gw.external);
  t.teardown(() => session.destroy());
  const head = (method: string): Promise<{ status: number; length: unknown; body: number; error?: string }> => new Promise((resolve) => {
    const stream = session.request({ ':method': method, ':authority': hostOf('guarded') });
    let status = 0;
    let length: unknown;
    let body = 0;
    stream.on('response', (h) => { status = Number(h[':status']); length = h['content-length']; });
    stream.on('data', (d: Buffer) => { body += d.length; });
    stream.on('end', () => resolve({ status, length, body }));
    stream.on('error', (err: Error) => resolve({ status, length, body, error: err.message }));
  });
  const h = await head('HEAD');
  const g = await head('GET');
  t.same(g, { status: 401, length: String(g.body), body: g.body }, 'GET: the refusal with its body');
  t.same(h, { status: 401, length: g.length, body: 0 }, 'HEAD: the status and headers of the GET refusal, no body');
});
