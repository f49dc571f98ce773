import http2 from 'node:http2';
import t from 'tap';
import { hostOf, startGateway } from '../helpers/gateway';
import { startUpstream } from '../helpers/upstream';
t.test('x', async (t) => {
  const stall = await startUpstream(t, (_req, res) => { res.writeHead(200, { 'content-type': 'text/plain' }); res.write('partial'); });
  const gw = await startGateway(t, { deployments: [{ name: 'stall', access: 'public', upstreams: [stall.url], timeouts: { idle: '300ms' } }] });
  const session = http2.connect(gw.external);
  const started = performance.now();
  await new Promise<void>((resolve) => {
    const stream = session.request({ ':path': '/', ':authority': hostOf('stall') });
    stream.on('response', (h) => console.log('response', h[':status'], performance.now() - started));
    stream.on('data', (d) => console.log('data', d.toString(), performance.now() - started));
    stream.on('end', () => console.log('end', performance.now() - started));
    stream.on('error', (e) => console.log('error', e.message));
    stream.on('close', () => { console.log('close', stream.rstCode, performance.now() - started); resolve(); });
  });
  session.close();
  console.log(gw.logs.filter((l) => l.msg === 'request'));
});
