import t from 'tap';
import { startRedis } from '../helpers/redis';
import { decisionMatrix } from './decision-matrix';

t.test('with a private redis-server', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  let prefixes = 0;
  decisionMatrix(t, {
    store: () => ({ driver: 'redis', url: redis.url, prefix: `matrix${++prefixes}:` }),
    outage: () => redis.kill(),
  });
});
