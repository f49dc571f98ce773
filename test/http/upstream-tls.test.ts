import { readFileSync } from 'node:fs';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import t from 'tap';
import { FIXTURES, hostOf, spawnGateway, writeConfig } from '../helpers/gateway';
import { get } from '../helpers/http';

// undici 8 speaks HTTP/2 to an https origin that offers it; the gateway's upstream
// pools keep HTTP/1.1, which its forwarding rules are written for.
t.test('an https:// upstream offering h2 is still reached over HTTP/1.1 with TLS', async (t) => {
  const versions: string[] = [];
  const upstream = http2.createSecureServer({
    cert: readFileSync(join(FIXTURES, 'tls', 'server.crt')),
    key: readFileSync(join(FIXTURES, 'tls', 'server.key')),
    allowHTTP1: true,
  }, (req, res) => {
    versions.push(req.httpVersion);
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('over tls');
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => upstream.close(() => resolve())));
  const url = `https://127.0.0.1:${(upstream.address() as AddressInfo).port}`;

  const { file } = writeConfig({ deployments: [{ name: 'open', access: 'public', protocol: 'http', upstreams: [url] }] });
  const gw = await spawnGateway(t, file, { NODE_EXTRA_CA_CERTS: join(FIXTURES, 'tls', 'ca.crt') });
  const res = await get(`http://127.0.0.1:${gw.ports.external}/`, { host: hostOf('open') });
  t.equal(res.status, 200);
  t.equal(res.text, 'over tls');
  t.same(versions, ['1.1'], 'the upstream saw one HTTP/1.1 request');
});
