import t from 'tap';
import { redisKeys } from '../../gateway/store/redis-keys';
import { hostOf, startGateway, type TestGateway } from '../helpers/gateway';
import { get, type Reply } from '../helpers/http';
import { adminCall, within } from '../helpers/ops';
import { startCluster, type TestCluster, type TopologyNode } from '../helpers/redis-topology';
import { startUpstream } from '../helpers/upstream';

const RESHARD_SLOTS = 100;

/** A prefix whose token table is in one of the `below` lowest slots, owned by `owner` when given. */
async function prefixInLowSlot(cluster: TestCluster, below: number, tag: string): Promise<{ prefix: string; slot: number }> {
  for (let i = 0; i < 5_000; i++) {
    const prefix = `${tag}${i}:`;
    const slot = await cluster.slotOf(redisKeys(prefix, true).table('token:ids'));
    if (slot < below) return { prefix, slot };
  }
  throw new Error('no prefix found');
}

t.test('gateways on a Redis Cluster: a reshard under traffic, then a dead primary', async (t) => {
  const cluster = await startCluster(3);
  t.teardown(() => cluster.stop());
  const up = await startUpstream(t);
  const { prefix, slot } = await prefixInLowSlot(cluster, RESHARD_SLOTS, 'moved');
  const source = await cluster.ownerOf(slot);
  const target = cluster.nodes.find((n) => n !== source)!;
  // A second gateway whose table lives on the third node, which stays up.
  const bystanderNode = cluster.nodes.find((n) => n !== source && n !== target)!;
  let other = '';
  for (let i = 0; other === ''; i++) {
    const candidate = `kept${i}:`;
    if ((await cluster.ownerOf(await cluster.slotOf(redisKeys(candidate, true).table('token:ids')))) === bystanderNode) other = candidate;
  }
  const deployments = [
    { name: 'guarded', access: 'protected' as const, upstreams: [up.url] },
    { name: 'open', access: 'public' as const, upstreams: [up.url] },
  ];
  const extra = { failedAuth: { perMinute: 100_000 } };
  const gw = await startGateway(t, { store: { driver: 'redis', cluster: cluster.seeds, prefix }, deployments, extra });
  const bystander = await startGateway(t, { store: { driver: 'redis', cluster: cluster.seeds, prefix: other }, deployments, extra });
  const guarded = (g: TestGateway, secret: string): Promise<Reply> => get(`${g.external}/x`, { host: hostOf('guarded'), authorization: `Bearer ${secret}` });

  const dev = await gw.mint({ developer: true });
  const cached = await gw.mint({ user: ['guarded'] });
  const fresh = await Promise.all(Array.from({ length: 150 }, () => gw.mint({ user: ['guarded'] })));
  const bystanderFresh = await Promise.all(Array.from({ length: 20 }, () => bystander.mint({ user: ['guarded'] })));
  t.equal((await guarded(gw, cached.secret)).status, 200);

  await t.test('a reshard moving the token table\'s slot fails no request', async (t) => {
    const statuses: number[] = [];
    const writes: number[] = [];
    let next = 0;
    let traffic = true;
    const lookups = async (): Promise<void> => {
      while (traffic) {
        const rs = await Promise.all([
          guarded(gw, cached.secret), get(`${gw.external}/x`, { host: hostOf('open') }),
          guarded(gw, fresh[next++ % fresh.length]!.secret), get(`${gw.admin}/readyz`),
        ]);
        statuses.push(...rs.map((r) => r.status));
      }
    };
    const changes = async (): Promise<void> => {
      while (traffic) {
        const made = await adminCall(gw.admin, dev.secret, 'POST', '/v1/tokens', { name: `w${next}`, user: { deployments: ['guarded'] } });
        writes.push(made.status);
        if (made.status === 201) {
          const id = made.json<{ token: { id: string } }>().token.id;
          writes.push((await adminCall(gw.admin, dev.secret, 'DELETE', `/v1/tokens/${id}`)).status);
        }
      }
    };
    const load = Promise.all([lookups(), lookups(), lookups(), changes()]);
    await new Promise((r) => setTimeout(r, 300));
    await cluster.reshard(source, target, RESHARD_SLOTS);
    await new Promise((r) => setTimeout(r, 300));
    traffic = false;
    await load;
    t.equal(await cluster.ownerOf(slot), target, `slot ${slot} (the token table) moved to another node`);
    t.ok(statuses.length > 20, `${statuses.length} requests during the reshard`);
    t.same([...new Set(statuses)], [200], 'every lookup, public request and readiness probe answered 200');
    t.same([...new Set(writes)], [201, 204], `every token create (201) and revoke (204) went through (${writes.length})`);
  });

  await t.test('a dead primary with no replica: its slots fail, nothing else does', async (t) => {
    for (const f of fresh.slice(0, 5)) t.equal((await guarded(gw, f.secret)).status, 200, 'used now: cached');
    const uncached = fresh.slice(-5);
    await (target as TopologyNode).kill();
    const refused = await guarded(gw, uncached[0]!.secret);
    t.equal(refused.status, 503, 'an uncached token whose record lived there: 503');
    t.ok(Number(refused.headers['retry-after']) >= 1, 'with Retry-After');
    const ready = await within(3_000, async () => (await get(`${gw.admin}/readyz`)).status === 503);
    t.ok(ready !== null, '/readyz: 503 (the token table\'s primary is unreachable)');
    for (let i = 0; i < 20; i++) {
      const [c, o, b] = await Promise.all([
        guarded(gw, fresh[i % 5]!.secret), get(`${gw.external}/x`, { host: hostOf('open') }),
        guarded(bystander, bystanderFresh[i]!.secret),
      ]);
      if (c.status !== 200 || o.status !== 200 || b.status !== 200) t.fail(`round ${i}: cached ${c.status}, public ${o.status}, another table's uncached token ${b.status}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    t.pass('cached tokens, public routes and the other table\'s tokens kept answering 200 for a second');
    t.equal((await get(`${bystander.admin}/readyz`)).status, 200, 'the gateway whose table is elsewhere stays ready');
    t.equal((await get(`${gw.admin}/healthz`)).status, 200, 'the gateway process runs on');
  });
});
