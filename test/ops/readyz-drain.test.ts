import t from 'tap';
import { hostOf, startGateway } from '../helpers/gateway';
import { get } from '../helpers/http';
import { within } from '../helpers/ops';
import { startUpstream } from '../helpers/upstream';

t.test('one process: /readyz answers 503 from the moment a drain begins, /healthz stays 200', async (t) => {
  const up = await startUpstream(t, (req, res) => { setTimeout(() => res.end('done'), req.url === '/slow' ? 1_000 : 0); });
  const gw = await startGateway(t, { deployments: [{ name: 'svc', access: 'public', upstreams: [up.url] }] });
  t.equal((await get(`${gw.admin}/readyz`)).status, 200, 'ready before');
  const slow = get(`${gw.external}/slow`, { host: hostOf('svc') });
  await within(3_000, async () => up.requests.some((r) => r.url === '/slow'));
  const stopped = gw.gateway.stop(5_000);
  const readyz = await get(`${gw.admin}/readyz`);
  t.equal(readyz.status, 503, 'not ready while draining');
  t.same(readyz.json(), { status: 'draining' });
  t.equal((await get(`${gw.admin}/healthz`)).status, 200, 'still alive: a liveness probe must not restart a draining process');
  t.equal((await slow).status, 200, 'the request in flight finished');
  t.equal(await stopped, true, 'the drain finished cleanly');
});
