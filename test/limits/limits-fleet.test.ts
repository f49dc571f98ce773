import t from 'tap';
import { Agent, request } from 'undici';
import { hostOf, startGateway, type TestGateway } from '../helpers/gateway';
import { get } from '../helpers/http';
import { within } from '../helpers/ops';
import { startRedis, type TestRedis } from '../helpers/redis';
import { startUpstream } from '../helpers/upstream';

/** What the gateways sent Redis: script calls and plain reads (a script's own inner calls are not round trips). */
async function roundTrips(redis: TestRedis): Promise<number> {
  const stats = await redis.commandStats();
  return (stats.get('eval') ?? 0) + (stats.get('evalsha') ?? 0) + (stats.get('get') ?? 0);
}

/** `total` requests on one token, `parallel` at a time, alternating between the replicas; answers the statuses. */
/** Every slot count held in Redis, over every limit hash, that is not 0. */
async function slotsHeld(redis: TestRedis): Promise<string[]> {
  const keys = (await redis.command('KEYS', '*limits*')) as string[];
  const fields = await Promise.all(keys.map(async (k) => (await redis.command('HGETALL', k)) as string[]));
  return fields.flat().filter((f, i, all) => i % 2 === 0 && f.startsWith('c:') && all[i + 1] !== '0');
}

async function flood(replicas: TestGateway[], secret: string, total: number, parallel: number): Promise<number[]> {
  const agents = replicas.map(() => new Agent({ connections: parallel }));
  const statuses: number[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < total) {
      const i = next++;
      const res = await request(`${replicas[i % replicas.length].external}/`, {
        headers: { host: hostOf('llm'), authorization: `Bearer ${secret}` }, dispatcher: agents[i % replicas.length],
      });
      await res.body.dump();
      statuses.push(res.statusCode);
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  await Promise.all(agents.map((a) => a.close()));
  return statuses;
}

t.test('two replicas on one Redis: one limit for the fleet, at most one command per request', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const up = await startUpstream(t, (_req, res) => setTimeout(() => res.end('ok'), 5));
  const options = { store: { driver: 'redis' as const, url: redis.url }, deployments: [{ name: 'llm', access: 'protected' as const, upstreams: [up.url] }] };
  const replicas = [await startGateway(t, options), await startGateway(t, options)];

  await t.test('rate: 600/min through both replicas', async (t) => {
    const { secret } = await replicas[0].mint({ user: ['llm'], limits: { requests_per_minute: 600 } });
    // The token is read into each replica's cache first: the flood then measures the limit alone.
    for (const r of replicas) t.equal((await get(`${r.external}/`, { host: hostOf('llm'), authorization: `Bearer ${secret}` })).status, 200);
    const before = await roundTrips(redis);
    const started = Date.now();
    const statuses = await flood(replicas, secret, 600, 16);
    const elapsed = Date.now() - started;
    const trips = (await roundTrips(redis)) - before;
    const allowed = statuses.filter((s) => s === 200).length;
    // Burst 10, then one per 100 ms, for the fleet; the 2 above took two of the burst.
    t.ok(allowed <= 8 + Math.ceil(elapsed / 100) + 1, `${allowed} allowed in ${elapsed} ms: within the fleet's limit`);
    t.ok(allowed >= 8, 'the burst was admitted');
    t.equal(statuses.filter((s) => s !== 200 && s !== 429).length, 0, 'only 200 and 429');
    t.ok(trips <= statuses.length, `${trips} store round trips for ${statuses.length} requests`);
  });

  await t.test('concurrency: 4 for the fleet, releases included', async (t) => {
    const { secret } = await replicas[0].mint({ user: ['llm'], limits: { concurrent: 4 } });
    for (const r of replicas) t.equal((await get(`${r.external}/`, { host: hostOf('llm'), authorization: `Bearer ${secret}` })).status, 200);
    let inUpstream = 0;
    let most = 0;
    up.server.removeAllListeners('request');
    up.server.on('request', (_req, res: import('node:http').ServerResponse) => {
      most = Math.max(most, ++inUpstream);
      setTimeout(() => { inUpstream--; res.end('ok'); }, 5);
    });
    const before = await roundTrips(redis);
    const statuses = await flood(replicas, secret, 400, 16);
    // Releases not carried by a later check are written back shortly after; they count too.
    await new Promise((r) => setTimeout(r, 500));
    const trips = (await roundTrips(redis)) - before;
    t.ok(most <= 4, `at most 4 at once reached the upstream (${most})`);
    t.ok(statuses.filter((s) => s === 200).length >= 4, 'requests were served');
    t.ok(trips <= statuses.length, `${trips} store round trips (checks and releases) for ${statuses.length} requests`);
    t.same(await slotsHeld(redis), [], 'no slot is left held once the flood is over');
  });

  await t.test('rate in batches: 6,000/min through both replicas stays within the fleet limit', async (t) => {
    // A burst of 100; a replica takes up to 10 (100 ms' worth) at a time and admits them itself.
    const { secret } = await replicas[0].mint({ user: ['llm'], limits: { requests_per_minute: 6_000 } });
    for (const r of replicas) t.equal((await get(`${r.external}/`, { host: hostOf('llm'), authorization: `Bearer ${secret}` })).status, 200);
    up.server.removeAllListeners('request');
    up.server.on('request', (_req, res: import('node:http').ServerResponse) => res.end('ok'));
    const started = Date.now();
    const statuses = await flood(replicas, secret, 1500, 16);
    const elapsed = Date.now() - started;
    const allowed = statuses.filter((s) => s === 200).length;
    // Every batch is taken from the fleet's allowance: at most the burst (the 2 above come back within 20 ms), then one per 10 ms.
    t.ok(allowed <= 100 + Math.ceil(elapsed / 10) + 1, `${allowed} allowed in ${elapsed} ms: within the fleet's limit`);
    // What a replica holds when the flood stops is not used: at most a batch of 10 each.
    t.ok(allowed >= 98 - 2 * 10, `${allowed} allowed: the burst, less at most a batch per replica`);
    t.equal(statuses.filter((s) => s !== 200 && s !== 429).length, 0, 'only 200 and 429');
  });

  await t.test('high limits: requests are admitted from each replica\'s share, with few store calls', async (t) => {
    const { secret } = await replicas[0].mint({ user: ['llm'], limits: { requests_per_minute: 1_000_000, concurrent: 1_000 } });
    for (const r of replicas) t.equal((await get(`${r.external}/`, { host: hostOf('llm'), authorization: `Bearer ${secret}` })).status, 200);
    const before = await roundTrips(redis);
    const statuses = await flood(replicas, secret, 1000, 16);
    const trips = (await roundTrips(redis)) - before;
    t.equal(statuses.filter((s) => s === 200).length, 1000, 'all allowed');
    t.ok(trips <= statuses.length / 4, `${trips} store round trips for ${statuses.length} requests`);
    t.not(await within(4000, async () => (await slotsHeld(redis)).length === 0), null, 'spare slots are written back once idle');
  });
});
