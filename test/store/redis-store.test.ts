import t, { type Test } from 'tap';
import { openStore } from '../../gateway/store/open-store';
import { RedisStore, type RedisStoreOptions } from '../../gateway/store/redis-store';
import { StoreUnavailableError } from '../../gateway/store/types';
import { startRedis, type TestRedis } from '../helpers/redis';
import { EventLog, deploymentSpec, isDeployment, isToken, storeContract, tokenRecord } from './store-contract';

let prefixes = 0;
const newPrefix = (): string => `test${++prefixes}:`;

async function connect(t: Test, redis: TestRedis, prefix: string, options: RedisStoreOptions = {}): Promise<RedisStore> {
  const store = await RedisStore.connect({ driver: 'redis', url: redis.url, prefix }, options);
  t.teardown(() => store.close());
  return store;
}

/** Retries `fn` until it resolves; answers how long that took. */
async function until(fn: () => Promise<unknown>, timeoutMs: number): Promise<number> {
  const start = Date.now();
  for (;;) {
    try {
      await fn();
      return Date.now() - start;
    } catch (err) {
      if (Date.now() - start > timeoutMs) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

async function failsFast(t: Test, what: string, call: () => Promise<unknown>): Promise<void> {
  const start = Date.now();
  await t.rejects(call(), StoreUnavailableError, `${what} rejects with StoreUnavailableError`);
  t.ok(Date.now() - start < 1_500, `${what} failed in ${Date.now() - start} ms`);
}

t.test('against a private redis-server', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());

  t.test('contract', async (t) => {
    storeContract(t, async () => {
      const prefix = newPrefix();
      return async () => openStore({ driver: 'redis', url: redis.url, prefix });
    });
  });

  t.test('findTokenByHash is exactly one GET, on RESP2, under the prefix', async (t) => {
    const prefix = newPrefix();
    const store = await connect(t, redis, prefix);
    const record = tokenRecord();
    await store.createToken(record);
    await store.putDeployment(deploymentSpec('iris'));
    await redis.command('CONFIG', 'RESETSTAT');
    t.same(await store.findTokenByHash(record.hash), record);
    t.equal(await store.findTokenByHash('unknown'), null);
    const stats = await redis.commandStats();
    stats.delete('info'); // the helper's own queries
    stats.delete('config|resetstat');
    stats.delete('ping'); // the subscriber connection's heartbeat, not a lookup's
    t.same(Object.fromEntries(stats), { get: 2 }, 'one GET per lookup, nothing else');
    t.equal(await redis.commandCalls('GET'), 2);

    await store.claimPepperFingerprint('fingerprint');
    const keys = (await redis.command('KEYS', `${prefix}*`)) as string[];
    t.same(keys.sort(), [
      `${prefix}deployments`, `${prefix}token:hash:${record.hash}`, `${prefix}token:ids`, `${prefix}token:pepper-fingerprint`,
    ], 'keys are under the prefix');
    const clients = String(await redis.command('CLIENT', 'LIST'));
    const ours = clients.split('\n').filter((line) => / name=gatehouse/.test(line));
    t.equal(ours.length, 2, 'a command and a subscriber connection');
    t.ok(ours.every((line) => / resp=2\b/.test(line)), 'both speak RESP2');
  });

  t.test('prefixes keep gateways apart', async (t) => {
    const a = await connect(t, redis, newPrefix());
    const b = await connect(t, redis, newPrefix());
    const log = new EventLog();
    b.watch(log.listener);
    const record = tokenRecord();
    await a.createToken(record);
    await a.putDeployment(deploymentSpec('only-in-a'));
    t.equal(await b.findTokenByHash(record.hash), null);
    t.same(await b.listDeployments(), []);
    await new Promise((r) => setTimeout(r, 200));
    t.same(log.events, [], 'no events from another prefix');
  });

  t.test('a subscriber that reconnects announces a reset, and events flow again', async (t) => {
    const prefix = newPrefix();
    const writer = await connect(t, redis, prefix);
    const reader = await connect(t, redis, prefix);
    const log = new EventLog();
    reader.watch(log.listener);
    const reset = log.waitFor((e) => e.kind === 'reset', 3_000);
    await redis.command('CLIENT', 'KILL', 'TYPE', 'pubsub');
    t.ok((await reset) < 3_000, 'reset after the subscriber reconnected');
    const seen = log.waitFor(isDeployment('after-reset'));
    await writer.putDeployment(deploymentSpec('after-reset'));
    await seen;
  });
});

t.test('when redis dies, calls fail fast, and the same store recovers after a restart', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const prefix = newPrefix();
  const store = await connect(t, redis, prefix);
  const other = await connect(t, redis, prefix);
  const log = new EventLog();
  other.watch(log.listener);
  const record = tokenRecord();
  const created = log.waitFor(isToken(record.id, record.hash));
  await store.createToken(record);
  await created;

  await redis.kill();
  await failsFast(t, 'findTokenByHash', () => store.findTokenByHash(record.hash));
  await failsFast(t, 'ping', () => store.ping());
  await failsFast(t, 'createToken', () => store.createToken(tokenRecord()));
  await failsFast(t, 'listDeployments', () => store.listDeployments());
  const [probe] = await Promise.allSettled([store.getToken(record.id)]);
  t.ok(probe.status === 'rejected' && probe.reason instanceof StoreUnavailableError && probe.reason.cause instanceof Error,
    'the ioredis error is kept as cause');

  const reset = log.waitFor((e) => e.kind === 'reset', 5_000);
  await redis.restart();
  const recovered = await until(() => store.ping(), 5_000);
  t.ok(recovered < 5_000, `the same store answers again ${recovered} ms after the restart`);
  await reset;
  t.pass('the other instance announced a reset (its subscription was re-established)');
  // The restarted server is empty (no persistence): writes and events work again.
  const seen = log.waitFor(isToken(record.id, record.hash), 2_000);
  await until(() => store.createToken(record), 2_000);
  await seen;
  t.same(await other.findTokenByHash(record.hash), record);
});

t.test('a frozen redis fails calls within the command timeout instead of hanging', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const store = await connect(t, redis, newPrefix(), { commandTimeoutMs: 300 });
  await store.ping();
  redis.pause();
  t.teardown(() => redis.resume());
  await failsFast(t, 'findTokenByHash', () => store.findTokenByHash('x'));
  redis.resume();
  await until(() => store.ping(), 5_000);
});

t.test('connect does not fail while redis is down; the store comes up with it', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  await redis.kill();
  const start = Date.now();
  const store = await connect(t, redis, newPrefix(), { connectWaitMs: 300 });
  t.ok(Date.now() - start < 1_000, 'connect returned after its bounded wait');
  await failsFast(t, 'ping', () => store.ping());
  const log = new EventLog();
  store.watch(log.listener);
  const reset = log.waitFor((e) => e.kind === 'reset', 5_000);
  await redis.restart();
  await until(() => store.ping(), 5_000);
  await reset;
  t.pass('a late first subscription is announced as a reset: nothing was loaded before it');
});
