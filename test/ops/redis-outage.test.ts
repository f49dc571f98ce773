import t from 'tap';
import { hostOf, spawnGateway, writeConfig } from '../helpers/gateway';
import { get } from '../helpers/http';
import { adminCall, mintInStore, within } from '../helpers/ops';
import { startRedis } from '../helpers/redis';
import { startUpstream } from '../helpers/upstream';

/** Short, so that during the outage recent tokens are past it and served stale (staleIfError stays 5m). */
const TTL_MS = 500;

t.test('redis-server killed under traffic, then restarted on the same port', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const up = await startUpstream(t);
  const { file } = writeConfig({
    store: { driver: 'redis', url: redis.url },
    deployments: [
      { name: 'guarded', access: 'protected', upstreams: [up.url] },
      { name: 'open', access: 'public', upstreams: [up.url] },
    ],
    extra: { cache: { ttl: `${TTL_MS}ms` } },
  });
  const gw = await spawnGateway(t, file);
  const base = `http://127.0.0.1:${gw.ports.external}/x`;
  const admin = `http://127.0.0.1:${gw.ports.admin}`;
  const [dev, recent, neverSeen] = await mintInStore(file, [{ developer: true }, { user: ['guarded'] }, { user: ['guarded'] }]);
  const guarded = (secret: string) => get(base, { host: hostOf('guarded'), authorization: `Bearer ${secret}` });
  const open = () => get(base, { host: hostOf('open') });

  t.equal((await guarded(recent.secret)).status, 200, 'the recent token is used while Redis is up');
  t.equal((await adminCall(admin, dev.secret, 'GET', '/v1/whoami')).status, 200);
  t.equal((await get(admin + '/readyz')).status, 200);
  // Redis runs without automatic saves; one explicit save lets the restarted server come back with the tokens.
  await redis.command('SAVE');

  let traffic = true;
  const seen: { recent: number[]; open: number[] } = { recent: [], open: [] };
  const load = (async () => {
    while (traffic) {
      const [r, o] = await Promise.all([guarded(recent.secret), open()]);
      seen.recent.push(r.status);
      seen.open.push(o.status);
      await new Promise((resolve) => setTimeout(resolve, 30));
    }
  })();

  await redis.kill();
  await new Promise((r) => setTimeout(r, TTL_MS + 300));
  const refused = await guarded(neverSeen.secret);
  t.equal(refused.status, 503, 'a never-seen token: 503');
  t.ok(Number(refused.headers['retry-after']) >= 1, 'with Retry-After');
  t.equal(refused.json().error, 'store_unavailable');
  t.equal((await guarded(recent.secret)).status, 200, 'a token used in the last minute keeps working (past its ttl)');
  t.equal((await open()).status, 200, 'public Deployments: 200');
  t.equal((await get(admin + '/readyz')).status, 503, '/readyz: 503');
  t.equal((await get(admin + '/healthz')).status, 200, '/healthz: 200 (the process runs)');
  const list = await adminCall(admin, dev.secret, 'GET', '/v1/tokens');
  t.equal(list.status, 503, 'the admin API answers 503, not a refusal');
  t.equal(list.json().error, 'store_unavailable');
  const metrics = await get(admin + '/metrics');
  t.match(metrics.text, /gatehouse_token_cache_stale_total [1-9]/, 'stale serves are counted');
  t.match(metrics.text, /gatehouse_store_errors_total [1-9]/, 'store errors are counted');

  traffic = false;
  await load;
  t.ok(seen.recent.length > 5, `traffic ran through the outage (${seen.recent.length} rounds)`);
  t.same([...new Set(seen.recent)], [200], 'the recent token never failed');
  t.same([...new Set(seen.open)], [200], 'the public Deployment never failed');

  await redis.restart();
  const restartedAt = Date.now();
  const back = await within(5_000, async () => (await guarded(neverSeen.secret)).status === 200, restartedAt, 50);
  t.ok(back !== null && back <= 5_000, `the never-seen token works again ${String(back)} ms after the restart`);
  t.equal((await get(admin + '/readyz')).status, 200, '/readyz: 200 again');
  const made = await adminCall(admin, dev.secret, 'POST', '/v1/tokens', { name: 'after', user: { deployments: ['guarded'] } });
  t.equal(made.status, 201, 'the admin API works again');
  t.equal((await guarded(made.json<{ secret: string }>().secret)).status, 200, 'and a token made now is accepted');
  t.equal(gw.child.exitCode, null, 'without restarting Gatehouse');
});
