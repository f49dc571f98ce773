import t from 'tap';
import { hostOf, startGateway } from '../helpers/gateway';
import { get } from '../helpers/http';
import { startUpstream } from '../helpers/upstream';
t.test('x', async (t) => {
  const early = await startUpstream(t, (_req, res) => { res.writeHead(413, { 'content-type': 'text/plain', connection: 'close' }); res.end('too big'); });
  const gw = await startGateway(t, { deployments: [{ name: 'early', access: 'public', upstreams: [early.url] }] });
  const r = await get(gw.external + '/', { host: hostOf('early') }, { method: 'POST', body: 'x'.repeat(8 * 1024 * 1024) });
  console.log(r.status, r.text);
  console.log(JSON.stringify(gw.logs.filter((l) => l.level >= 40), null, 1).slice(0, 3000));
});
