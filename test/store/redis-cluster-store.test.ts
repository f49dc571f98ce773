import t, { type Test } from 'tap';
import type { RedisStoreConfig } from '../../gateway/config/schema';
import { openStore } from '../../gateway/store/open-store';
import { RedisStore } from '../../gateway/store/redis-store';
import { redisKeys } from '../../gateway/store/redis-keys';
import { StoreUnavailableError } from '../../gateway/store/types';
import { startCluster, type TestCluster, type TopologyNode } from '../helpers/redis-topology';
import { EventLog, deploymentSpec, isDeployment, isToken, storeContract, tokenRecord } from './store-contract';

let prefixes = 0;
const newPrefix = (): string => `cluster${++prefixes}:`;

function clusterConfig(cluster: TestCluster, prefix: string): RedisStoreConfig {
  return { driver: 'redis', prefix, cluster: cluster.nodes.map((n) => ({ host: '127.0.0.1', port: n.port })), tls: false };
}

async function connect(t: Test, cluster: TestCluster, prefix: string): Promise<RedisStore> {
  const store = await RedisStore.connect(clusterConfig(cluster, prefix));
  t.teardown(() => store.close());
  return store;
}

/** The node each gatehouse-events connection is on, by port. */
async function subscriberNodes(cluster: TestCluster): Promise<Map<number, number>> {
  const counts = new Map<number, number>();
  for (const n of cluster.nodes) {
    const list = String(await n.command('CLIENT', 'LIST'));
    counts.set(n.port, list.split('\n').filter((line) => / name=gatehouse-events /.test(line)).length);
  }
  return counts;
}

t.test('against a three-primary Redis Cluster', async (t) => {
  const cluster = await startCluster(3);
  t.teardown(() => cluster.stop());

  t.test('contract', async (t) => {
    storeContract(t, async () => {
      const prefix = newPrefix();
      return async () => openStore(clusterConfig(cluster, prefix));
    });
  });

  t.test('the token table shares one slot; per-token keys are spread by id', async (t) => {
    const prefix = newPrefix();
    const store = await connect(t, cluster, prefix);
    const record = tokenRecord();
    await store.createToken(record);
    await store.putDeployment(deploymentSpec('iris'));
    const keys = redisKeys(prefix, true);
    const tableKeys = [keys.table('token:ids'), keys.table(`token:hash:${record.hash}`), keys.table('deployments')];
    const slots = await Promise.all(tableKeys.map((k) => cluster.slotOf(k)));
    t.equal(new Set(slots).size, 1, `one slot (${slots[0]}) for ${tableKeys.join(', ')}`);
    const owner = await cluster.ownerOf(slots[0]!);
    for (const key of tableKeys) t.equal(await owner.command('EXISTS', key), 1, `${key} is stored, with its braces`);
    t.equal(await cluster.slotOf(keys.channel), slots[0], 'the events channel is named in the same slot');
    const perToken = await Promise.all(['a', 'b', 'c', 'd', 'e', 'f'].map((id) => cluster.slotOf(keys.token(`tok_${id}`, 'usage'))));
    t.ok(new Set(perToken).size > 1, `per-token keys land in different slots (${perToken.join(', ')})`);
    t.equal(await cluster.slotOf(keys.token('tok_a', 'usage')), await cluster.slotOf(keys.token('tok_a', 'limits')), 'one token\'s keys share a slot');
  });

  t.test('events reach stores listening on every node', async (t) => {
    const prefix = newPrefix();
    const writer = await connect(t, cluster, prefix);
    const logs: EventLog[] = [];
    // Subscribers go to a random node: open readers until every node has one.
    for (let i = 0; i < 30; i++) {
      const reader = await connect(t, cluster, prefix);
      const log = new EventLog();
      reader.watch(log.listener);
      logs.push(log);
      if ([...(await subscriberNodes(cluster)).values()].every((n) => n > 0)) break;
    }
    t.ok([...(await subscriberNodes(cluster)).values()].every((n) => n > 0), 'a subscriber on every node');
    const record = tokenRecord();
    const seen = Promise.all(logs.map((log) => log.waitFor(isToken(record.id, record.hash))));
    await writer.createToken(record);
    const times = await seen;
    t.ok(times.every((ms) => ms < 1_000), `all ${logs.length} readers saw the change (slowest ${Math.max(...times)} ms)`);
  });
});

t.test('a dead primary with no replica fails only its own slots', async (t) => {
  const cluster = await startCluster(3);
  t.teardown(() => cluster.stop());
  // Two stores whose token tables live on different nodes.
  const byNode = new Map<number, string>();
  for (let i = 0; byNode.size < 2 && i < 100; i++) {
    const prefix = newPrefix();
    const owner = await cluster.ownerOf(await cluster.slotOf(redisKeys(prefix, true).table('token:ids')));
    if (!byNode.has(owner.port)) byNode.set(owner.port, prefix);
  }
  const [[deadPort, deadPrefix], [livePort, livePrefix]] = [...byNode];
  const dead = cluster.nodes.find((n) => n.port === deadPort) as TopologyNode;
  const onDead = await connect(t, cluster, deadPrefix!);
  const onLive = await connect(t, cluster, livePrefix!);
  const log = new EventLog();
  onLive.watch(log.listener);
  const before = tokenRecord();
  await onDead.createToken(before);
  await onLive.createToken(before);

  await dead.kill();
  const start = Date.now();
  await t.rejects(onDead.findTokenByHash(before.hash), StoreUnavailableError, 'a table on the dead node: StoreUnavailableError');
  t.ok(Date.now() - start < 2_000, `failed in ${Date.now() - start} ms`);
  await t.rejects(onDead.ping(), StoreUnavailableError, 'and its ping (readiness) fails');
  // The live node may take a moment to agree the dead one is gone (cluster-node-timeout 1 s); it must keep serving.
  let answered = 0;
  for (let i = 0; i < 30; i++) {
    if ((await onLive.findTokenByHash(before.hash))?.id === before.id) answered++;
    await new Promise((r) => setTimeout(r, 100));
  }
  t.equal(answered, 30, `a table on node ${livePort} kept answering while the cluster noticed the dead node`);
  await onLive.ping();
  const after = tokenRecord();
  const seen = log.waitFor(isToken(after.id, after.hash), 5_000);
  await onLive.createToken(after);
  await seen;
  t.pass('and its changes are still announced');
  const gone = log.waitFor(isDeployment('x'), 5_000);
  await onLive.putDeployment(deploymentSpec('x'));
  await gone;
});
