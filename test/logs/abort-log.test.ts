import http from 'node:http';
import http2 from 'node:http2';
import t from 'tap';
import { hostOf, startGateway } from '../helpers/gateway';
import { until } from '../helpers/grpc';
import { startUpstream } from '../helpers/upstream';

t.test('a client that leaves, before or after the upstream answers, gets exactly one log line', async (t) => {
  let arrived = 0;
  const up = await startUpstream(t, (req, res) => {
    arrived++;
    if (req.url === '/partial') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('some');
    }
    // Never ends: the client leaves first.
  });
  const gw = await startGateway(t, { deployments: [{ name: 'open', access: 'public', upstreams: [up.url] }] });

  const cases: { id: string; abort: () => Promise<void> }[] = [];
  for (const path of ['/partial', '/silent']) {
    const h1 = `abort-h1${path.replace('/', '-')}`;
    cases.push({ id: h1, abort: async () => {
      const before = arrived;
      const req = http.request({ port: gw.externalPort, host: '127.0.0.1', path, headers: { host: hostOf('open'), 'x-request-id': h1 } });
      req.on('error', () => undefined);
      req.on('response', (res) => res.resume());
      req.end();
      await until(() => arrived > before);
      await new Promise((r) => setTimeout(r, 50));
      req.destroy();
    } });
    const h2 = `abort-h2${path.replace('/', '-')}`;
    cases.push({ id: h2, abort: async () => {
      const before = arrived;
      const session = http2.connect(gw.external);
      session.on('error', () => undefined);
      const stream = session.request({ ':path': path, ':authority': hostOf('open'), 'x-request-id': h2 });
      stream.on('error', () => undefined);
      stream.resume();
      await until(() => arrived > before);
      await new Promise((r) => setTimeout(r, 50));
      stream.close(http2.constants.NGHTTP2_CANCEL);
      session.close();
    } });
  }
  for (const c of cases) await c.abort();
  await until(() => cases.every((c) => gw.logs.some((l) => l.request_id === c.id && l.msg === 'request')));
  await new Promise((r) => setTimeout(r, 200));
  for (const c of cases) {
    const lines = gw.logs.filter((l) => l.request_id === c.id && l.msg === 'request');
    t.equal(lines.length, 1, `${c.id}: one line`);
    t.match(lines[0], { reason: 'client_aborted', deployment: 'open', listener: 'external' }, `${c.id}: the client's abort`);
    t.type(lines[0].duration_ms, 'number');
  }
});
