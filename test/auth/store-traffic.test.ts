import t, { type Test } from 'tap';
import { generateSecret } from '../../gateway/auth/token-format';
import { hostOf, startGateway, type GatewayOptions } from '../helpers/gateway';
import { startRedis, type TestRedis } from '../helpers/redis';
import { startUpstream } from '../helpers/upstream';
import { malformedAuthorizations } from './decision-matrix';
import { countStoreReads, send, until } from './probes';

/** Commands since the last CONFIG RESETSTAT, minus the helper's own INFO / RESETSTAT and the subscriber's heartbeat PING. */
async function dataCommands(redis: TestRedis): Promise<Record<string, number>> {
  const stats = await redis.commandStats();
  stats.delete('info');
  stats.delete('config|resetstat');
  stats.delete('ping');
  return Object.fromEntries(stats);
}

t.test('with a private redis-server', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const up = await startUpstream(t);
  const deployments = [
    { name: 'guarded', access: 'protected' as const, upstreams: [up.url] },
    { name: 'open', access: 'public' as const, upstreams: [up.url] },
  ];

  await t.test('malformed secrets, missing tokens and public traffic cause zero Redis commands', async (t) => {
    const gw = await startGateway(t, {
      store: { driver: 'redis', url: redis.url, prefix: 'zero:' }, deployments, extra: { failedAuth: { perMinute: 100_000 } },
    });
    await redis.command('CONFIG', 'RESETSTAT');
    const malformed = malformedAuthorizations();
    const replies = await Promise.all(Array.from({ length: 10 }, () => malformed).flat().map((authorization) =>
      send(gw.external + '/x', { host: hostOf('guarded'), authorization })));
    t.ok(replies.every((r) => r.status === 401), `${replies.length} malformed secrets refused with 401`);
    t.equal((await send(gw.external + '/x', { host: hostOf('guarded') })).status, 401, 'no token');
    t.equal((await send(gw.external + '/x', { host: hostOf('open') })).status, 200, 'public');
    t.same(await dataCommands(redis), {}, 'Redis saw no command at all');

    // The control: the same measurement does see a lookup when one is due.
    t.equal((await send(gw.external + '/x', { host: hostOf('guarded'), authorization: `Bearer ${generateSecret()}` })).status, 401);
    t.same(await dataCommands(redis), { get: 1 }, 'a well-formed unknown secret costs exactly one GET');
  });

  await t.test('single flight: 100 concurrent requests with one uncached token, one GET', async (t) => {
    await singleFlight(t, { driver: 'redis', url: redis.url, prefix: 'flight:' }, deployments, () => redis.commandCalls('get'));
  });
});

t.test('single flight on the embedded store', async (t) => {
  const up = await startUpstream(t);
  await singleFlight(t, { driver: 'embedded' }, [{ name: 'guarded', access: 'protected', upstreams: [up.url] }]);
});

const CONCURRENT = 100;

/**
 * Holds the first store read until all requests are waiting on the cache,
 * so they truly overlap; then exactly one read may have happened.
 */
async function singleFlight(t: Test, store: GatewayOptions['store'], deployments: GatewayOptions['deployments'], gets?: () => Promise<number>): Promise<void> {
  const gw = await startGateway(t, { store, deployments });
  const { secret } = await gw.mint({ user: ['guarded'] });
  const cache = gw.gateway.runtime.cache;
  const lookup = cache.lookup.bind(cache);
  let lookups = 0;
  cache.lookup = (hash) => {
    lookups++;
    return lookup(hash);
  };
  let release = (): void => {};
  const gate = new Promise<void>((resolve) => { release = resolve; });
  const reads = countStoreReads(gw.gateway, () => gate);
  const getsBefore = await gets?.();

  const pending = Promise.all(Array.from({ length: CONCURRENT }, () =>
    send(gw.external + '/x', { host: hostOf('guarded'), authorization: `Bearer ${secret}` })));
  try {
    await until(async () => lookups, (n) => n >= CONCURRENT, 15_000);
  } finally {
    release();
  }
  const replies = await pending;
  t.equal(replies.filter((r) => r.status === 200).length, CONCURRENT, 'every request allowed');
  t.equal(reads(), 1, 'one store read for all of them');
  if (gets && getsBefore !== undefined) t.equal(await gets() - getsBefore, 1, 'Redis saw one GET');
  t.equal((await send(gw.external + '/x', { host: hostOf('guarded'), authorization: `Bearer ${secret}` })).status, 200);
  t.equal(reads(), 1, 'the next request is a cache hit');
}
