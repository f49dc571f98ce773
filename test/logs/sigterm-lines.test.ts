import t from 'tap';
import { hostOf, spawnGateway, writeConfig } from '../helpers/gateway';
import { until } from '../helpers/grpc';
import { get } from '../helpers/http';
import { startUpstream } from '../helpers/upstream';

// Request lines reach stdout in batches; SIGTERM must not lose the last batch.
t.test('after SIGTERM, every request the gateway served has its line on stdout', async (t) => {
  let held = 0;
  const up = await startUpstream(t, (req, res) => {
    // Requests marked slow are still in flight when SIGTERM arrives, and finish during the drain.
    const delay = req.url === '/slow' ? 300 : 0;
    if (delay) held++;
    setTimeout(() => res.end('ok'), delay);
  });
  const { file } = writeConfig({ deployments: [{ name: 'open', access: 'public', upstreams: [up.url] }] });
  const gw = await spawnGateway(t, file);
  const external = `http://127.0.0.1:${gw.ports.external}`;

  const ids: string[] = [];
  for (let i = 0; i < 5; i++) {
    ids.push(`before-${i}`);
    t.equal((await get(`${external}/`, { host: hostOf('open'), 'x-request-id': `before-${i}` })).status, 200);
  }
  const slow = Array.from({ length: 5 }, (_, i) => {
    ids.push(`during-${i}`);
    return get(`${external}/slow`, { host: hostOf('open'), 'x-request-id': `during-${i}` });
  });
  await until(() => held === 5);
  const exited = gw.signal('SIGTERM');
  t.same((await Promise.all(slow)).map((r) => r.status), [200, 200, 200, 200, 200], 'in-flight requests finish during the drain');
  t.equal(await exited, 0, 'drains and exits 0');

  const logged = new Set(gw.output().split('\n').filter((l) => l.includes('"msg":"request"')).map((l) => (JSON.parse(l) as { request_id: string }).request_id));
  for (const id of ids) t.ok(logged.has(id), `${id} has its line`);
});
