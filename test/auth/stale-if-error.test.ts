import t from 'tap';
import { generateSecret } from '../../gateway/auth/token-format';
import { hostOf, startGateway } from '../helpers/gateway';
import { startRedis } from '../helpers/redis';
import { startUpstream } from '../helpers/upstream';
import { send, sleep } from './probes';

const TTL_MS = 200;
const STALE_IF_ERROR_MS = 3_000;

t.test('Redis killed: recently fetched tokens work until staleIfError after their fetch', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const up = await startUpstream(t);
  const gw = await startGateway(t, {
    store: { driver: 'redis', url: redis.url, prefix: 'stale:' },
    deployments: [
      { name: 'guarded', access: 'protected', upstreams: [up.url] },
      { name: 'open', access: 'public', upstreams: [up.url] },
    ],
    extra: { cache: { ttl: `${TTL_MS}ms`, negativeTtl: `${TTL_MS}ms`, staleIfError: `${STALE_IF_ERROR_MS}ms` } },
  });
  const call = (name: string, secret?: string) =>
    send(gw.external + '/x', { host: hostOf(name), ...(secret ? { authorization: `Bearer ${secret}` } : {}) });
  const { secret: used } = await gw.mint({ user: ['guarded'] });
  const { secret: unused } = await gw.mint({ user: ['guarded'] });

  // The gateway fetched it between these two instants; the bounds below allow for either end.
  const sentAt = Date.now();
  t.equal((await call('guarded', used)).status, 200, 'fetched while Redis is up');
  const answeredAt = Date.now();
  await redis.kill();

  await sleep(TTL_MS + 100);
  t.ok(Date.now() - answeredAt > TTL_MS, 'past ttl');
  t.equal((await call('guarded', used)).status, 200, 'served stale while the store fails');
  const neverSeen = await call('guarded', unused);
  t.equal(neverSeen.status, 503, 'a never-seen token cannot be checked');
  t.ok(Number(neverSeen.headers['retry-after']) >= 1, 'with Retry-After');
  t.equal((await call('guarded', generateSecret())).status, 503, 'nor can an unknown one');
  t.equal((await call('open')).status, 200, 'public Deployments are unaffected');

  await sleep(sentAt + 1_200 - Date.now());
  t.equal((await call('guarded', used)).status, 200, 'still served long past ttl, before staleIfError');
  await sleep(answeredAt + STALE_IF_ERROR_MS + 150 - Date.now());
  const expired = await call('guarded', used);
  t.equal(expired.status, 503, 'past staleIfError after the fetch: 503, not a stale allow and not a 401');
  t.equal((await call('open')).status, 200, 'public Deployments still unaffected');
});
