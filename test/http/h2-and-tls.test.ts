import { execFile } from 'node:child_process';
import https from 'node:https';
import { join } from 'node:path';
import tls from 'node:tls';
import { promisify } from 'node:util';
import t from 'tap';
import { Agent, request } from 'undici';
import { FIXTURES, hostOf, startGateway } from '../helpers/gateway';
import { get } from '../helpers/http';
import { CA, h2Request } from '../helpers/raw-http';
import { startUpstream } from '../helpers/upstream';

const run = promisify(execFile);
const CA_FILE = join(FIXTURES, 'tls', 'ca.crt');

interface Echo { headers: Record<string, string>; bodyLength: number }

/** curl through the gateway: `--resolve` maps the Deployment host to the listener so SNI and Host are real. */
async function curl(port: number, scheme: 'http' | 'https', flags: string[]): Promise<{ status: number; version: string; body: string }> {
  const host = hostOf('open');
  const { stdout } = await run('curl', [
    '-sS', '--max-time', '10', '--cacert', CA_FILE, '--resolve', `${host}:${port}:127.0.0.1`,
    '-w', '\n%{http_code} %{http_version}', ...flags, `${scheme}://${host}:${port}/curl`,
  ]);
  const cut = stdout.lastIndexOf('\n');
  const [status, version] = stdout.slice(cut + 1).split(' ');
  return { status: Number(status), version, body: stdout.slice(0, cut) };
}

t.test('TLS listener: ALPN h2 and http/1.1 on one port', async (t) => {
  const up = await startUpstream(t);
  const gw = await startGateway(t, { tls: true, deployments: [{ name: 'open', access: 'public', upstreams: [up.url] }] });

  t.test('ALPN offers h2 and http/1.1', async (t) => {
    for (const [offer, expected] of [[['h2', 'http/1.1'], 'h2'], [['http/1.1'], 'http/1.1']] as const) {
      const socket = tls.connect({ port: gw.externalPort, host: '127.0.0.1', servername: 'localhost', ca: CA, ALPNProtocols: [...offer] });
      await new Promise<void>((resolve, reject) => { socket.once('secureConnect', resolve); socket.once('error', reject); });
      t.equal(socket.alpnProtocol, expected, `client offering ${offer.join(',')} gets ${expected}`);
      socket.destroy();
    }
  });

  t.test('a TLS client offering no ALPN, or only http/1.1, is served HTTP/1.1', async (t) => {
    for (const offer of [undefined, ['http/1.1']]) {
      const socket = tls.connect({ port: gw.externalPort, host: '127.0.0.1', servername: 'localhost', ca: CA, ALPNProtocols: offer });
      await new Promise<void>((resolve, reject) => { socket.once('secureConnect', resolve); socket.once('error', reject); });
      let text = '';
      socket.on('data', (d: Buffer) => { text += d.toString(); });
      socket.write(`GET /no-alpn HTTP/1.1\r\nHost: ${hostOf('open')}\r\nConnection: close\r\n\r\n`);
      await new Promise((resolve) => socket.once('close', resolve));
      t.match(text, /^HTTP\/1\.1 200 /, `offer ${JSON.stringify(offer)}: HTTP/1.1 200`);
    }
  });

  t.test('node:http2 client over TLS', async (t) => {
    const r = await h2Request(gw.external, { ':authority': hostOf('open'), ':path': '/h2' });
    t.equal(r.status, 200);
    const echo = r.json<Echo>();
    t.equal(echo.headers['x-forwarded-proto'], 'https');
    t.equal(echo.headers['x-forwarded-host'], hostOf('open'));
    const post = await h2Request(gw.external, { ':authority': hostOf('open'), ':path': '/h2' }, 'x'.repeat(100_000));
    t.equal(post.json<Echo>().bodyLength, 100_000, 'a request body crosses h2 → h1');
  });

  t.test('node:https client (HTTP/1.1 over TLS)', async (t) => {
    const r = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = https.request({ host: '127.0.0.1', port: gw.externalPort, path: '/h1', ca: CA, servername: 'localhost', headers: { host: hostOf('open') } }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => { body += c.toString(); });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      req.end();
    });
    t.equal(r.status, 200);
    t.equal((JSON.parse(r.body) as Echo).headers['x-forwarded-proto'], 'https');
  });

  t.test('undici client with the test CA', async (t) => {
    const agent = new Agent({ connect: { ca: CA, servername: 'localhost' } });
    t.teardown(() => agent.close());
    const r = await request(`${gw.external}/undici`, { headers: { host: hostOf('open') }, dispatcher: agent });
    t.equal(r.statusCode, 200);
    t.equal(((await r.body.json()) as Echo).headers['x-forwarded-proto'], 'https');
  });

  t.test('curl --http2 and --http1.1 with --cacert', async (t) => {
    const h2 = await curl(gw.externalPort, 'https', ['--http2']);
    t.equal(h2.status, 200);
    t.equal(h2.version, '2', 'curl negotiated HTTP/2');
    const h1 = await curl(gw.externalPort, 'https', ['--http1.1']);
    t.equal(h1.status, 200);
    t.equal(h1.version, '1.1');
    const post = await curl(gw.externalPort, 'https', ['--http2', '--data-binary', 'abc']);
    t.equal((JSON.parse(post.body) as Echo).bodyLength, 3);
  });

  t.test('internal listener speaks h2 over TLS too', async (t) => {
    const r = await h2Request(gw.internal, { ':authority': hostOf('open') });
    t.equal(r.status, 200);
  });
});

t.test('cleartext listener: HTTP/1.1 and h2c prior knowledge on one port', async (t) => {
  const up = await startUpstream(t);
  const gw = await startGateway(t, {
    deployments: [
      { name: 'open', access: 'public', upstreams: [up.url] },
      { name: 'guarded', access: 'protected', upstreams: [up.url] },
    ],
  });

  const h1 = await get(gw.external + '/', { host: hostOf('open') });
  t.equal(h1.status, 200);
  const h2 = await h2Request(gw.external, { ':authority': hostOf('open') });
  t.equal(h2.status, 200);
  t.equal(h2.json<Echo>().headers['x-forwarded-proto'], 'http');
  t.match(h2.headers['x-request-id'], /\S/, 'h2 answers carry a request id');

  const refused = await h2Request(gw.external, { ':authority': hostOf('guarded') });
  t.equal(refused.status, 401, 'decisions apply to h2 requests');
  t.equal(refused.headers['www-authenticate'], 'Bearer realm="acme"');
  t.equal(refused.json().request_id, refused.headers['x-request-id']);

  const prior = await curl(gw.externalPort, 'http', ['--http2-prior-knowledge']);
  t.equal(prior.status, 200);
  t.equal(prior.version, '2', 'curl spoke h2c');
  const upgrade = await curl(gw.externalPort, 'http', ['--http2']);
  t.equal(upgrade.status, 200, 'an h2c Upgrade offer is declined, the request served on HTTP/1.1');
  t.equal(upgrade.version, '1.1');
  t.notOk((JSON.parse(upgrade.body) as Echo).headers.upgrade, 'the Upgrade offer is not forwarded');
  const withBody = await curl(gw.externalPort, 'http', ['--http2', '--data-binary', 'abc']);
  t.equal((JSON.parse(withBody.body) as Echo).bodyLength, 3, 'the body of a request offering h2c arrives');
  const chunked = await curl(gw.externalPort, 'http', ['--http2', '-H', 'Transfer-Encoding: chunked', '--data-binary', 'abcdef']);
  t.equal((JSON.parse(chunked.body) as Echo).bodyLength, 6, 'a chunked one too');
  const plain = await curl(gw.externalPort, 'http', ['--http1.1', '-H', 'Host: OPEN.acme.gw.test:1']);
  t.equal(plain.status, 200);
});
