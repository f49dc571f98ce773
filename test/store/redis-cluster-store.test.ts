import t from 'tap';
import { openStore } from '../../gateway/store/open-store';
import { RedisStore } from '../../gateway/store/redis-store';
import { redisKeys } from '../../gateway/store/redis-keys';
import { StoreUnavailableError } from '../../gateway/store/types';
import { startCluster, type TestCluster } from '../helpers/redis-topology';
import { EventLog, deploymentSpec, isDeployment, isToken, storeContract, tokenRecord } from './store-contract';

let prefixes = 0;
const newPrefix = (): string => `cluster${++prefixes}:`;

function clusterConfig(cluster: TestCluster, prefix: string) {
  const cluster_ = cluster.seeds.map((s) => ({ host: '127.0.0.1', port: Number(s.split(':')[1]) }));
  return { driver: 'redis' as const, prefix, cluster: cluster_, tls: false };
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
});
