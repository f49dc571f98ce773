import t from 'tap';
import { loadConfig } from '../../gateway/config/load';
import { openStore } from '../../gateway/store/open-store';
import { hostOf, startGateway } from '../helpers/gateway';
import { get } from '../helpers/http';
import { startRedis } from '../helpers/redis';
import { startUpstream } from '../helpers/upstream';

t.test('last_used_at is written in one batch, never once per request', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const up = await startUpstream(t);
  const gw = await startGateway(t, {
    store: { driver: 'redis', url: redis.url },
    deployments: [{ name: 'guarded', access: 'protected', upstreams: [up.url] }],
  });
  const { secret, token } = await gw.mint({ user: ['guarded'] });
  const { secret: dev, token: devToken } = await gw.mint({ developer: true });
  const before = await redis.commandStats();
  const firstUse = Date.now();
  for (let i = 0; i < 30; i++) t.equal((await get(gw.external + '/x', { host: hostOf('guarded'), authorization: `Bearer ${secret}` })).status, 200);
  for (let i = 0; i < 5; i++) await get(gw.admin + '/v1/whoami', { authorization: `Bearer ${dev}` });
  const during = await redis.commandStats();
  const delta = (stats: Map<string, number>, name: string) => (stats.get(name) ?? 0) - (before.get(name) ?? 0);
  t.equal(delta(during, 'get'), 2, 'one store read per token (the cache answers the rest)');
  // A token record is written only by SET (inside the store's scripts, which Redis counts too); usage counts are HINCRBYs.
  t.equal(delta(during, 'set'), 0, 'no token record written while requests are served');

  await gw.stop();
  const after = await redis.commandStats();
  t.equal(delta(after, 'set'), 2, 'one record write per token used, when the batch is flushed (at the latest on shutdown)');
  const store = await openStore(loadConfig(gw.file).store);
  t.teardown(() => store.close());
  for (const [what, id] of [['user token', token.id], ['developer token (admin API use)', devToken.id]] as const) {
    const lastUsed = Date.parse((await store.getToken(id))?.lastUsedAt ?? '');
    t.ok(lastUsed >= firstUse - 1_000 && lastUsed <= Date.now(), `${what}: last_used_at records its first use in the batch`);
  }
});
