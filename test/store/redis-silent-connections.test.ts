import { createConnection, createServer, type Server, type Socket } from 'node:net';
import t from 'tap';
import { RedisStore } from '../../gateway/store/redis-store';
import { StoreUnavailableError } from '../../gateway/store/types';
import { startRedis } from '../helpers/redis';
import { EventLog, isToken, tokenRecord } from './store-contract';

type Role = 'subscriber' | 'commands' | 'unknown';

/**
 * A TCP relay in front of redis-server that can make the connections going
 * through it silently dead: the sockets stay open, nothing passes (a peer
 * gone without a FIN or RST, a conntrack entry dropped, a partition).
 */
class Relay {
  private readonly server: Server;
  private readonly pairs = new Set<{ client: Socket; upstream: Socket; role: Role; dead: boolean }>();
  port = 0;

  constructor(private readonly redisPort: number) {
    this.server = createServer((client) => {
      const upstream = createConnection({ host: '127.0.0.1', port: this.redisPort });
      const pair: { client: Socket; upstream: Socket; role: Role; dead: boolean } = { client, upstream, role: 'unknown', dead: false };
      this.pairs.add(pair);
      client.on('data', (data) => {
        // The store names its connections (CLIENT SETNAME) first thing.
        if (pair.role === 'unknown') pair.role = data.includes('gatehouse-events') ? 'subscriber' : data.includes('$9\r\ngatehouse\r\n') ? 'commands' : 'unknown';
        if (!pair.dead) upstream.write(data);
      });
      upstream.on('data', (data) => { if (!pair.dead) client.write(data); });
      const close = (): void => { client.destroy(); upstream.destroy(); this.pairs.delete(pair); };
      client.on('close', close).on('error', close);
      upstream.on('close', close).on('error', close);
    });
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    const address = this.server.address();
    this.port = typeof address === 'object' && address ? address.port : 0;
  }

  /** Silences the connections of one role open now; new ones pass normally. */
  silence(role: Role): number {
    let silenced = 0;
    for (const pair of this.pairs) if (pair.role === role) { pair.dead = true; silenced++; }
    return silenced;
  }

  async close(): Promise<void> {
    for (const { client, upstream } of this.pairs) { client.destroy(); upstream.destroy(); }
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

t.test('a subscriber connection that silently stops answering is replaced, and announces a reset', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const relay = new Relay(redis.port);
  await relay.listen();
  t.teardown(() => relay.close());

  const prefix = 'health:';
  const reader = await RedisStore.connect({ driver: 'redis', url: `redis://127.0.0.1:${relay.port}/0`, prefix });
  t.teardown(() => reader.close());
  const writer = await RedisStore.connect({ driver: 'redis', url: redis.url, prefix });
  t.teardown(() => writer.close());
  const log = new EventLog();
  reader.watch(log.listener);

  const record = tokenRecord();
  const created = log.waitFor(isToken(record.id, record.hash));
  await writer.createToken(record);
  await created;

  t.equal(relay.silence('subscriber'), 1, 'the reader\'s subscriber connection is now dead without knowing it');
  const noticed = log.waitFor((e) => e.kind === 'reset' || isToken(record.id, record.hash)(e), 5_000);
  await writer.deleteToken(record.id); // a revocation the reader must not miss
  const ms = await noticed.catch((err: Error) => err);
  t.type(ms, 'number', 'the reader learns that it may have missed the revocation');
  if (typeof ms === 'number') t.ok(ms < 3_000, `within ${ms} ms`);
});

t.test('a command connection that silently stops answering is replaced after a timeout', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const relay = new Relay(redis.port);
  await relay.listen();
  t.teardown(() => relay.close());

  const store = await RedisStore.connect({ driver: 'redis', url: `redis://127.0.0.1:${relay.port}/0`, prefix: 'health:' }, { commandTimeoutMs: 300 });
  t.teardown(() => store.close());
  const record = tokenRecord();
  await store.createToken(record);

  t.equal(relay.silence('commands'), 1, 'the command connection is now dead without knowing it');
  await t.rejects(store.findTokenByHash(record.hash), StoreUnavailableError, 'a lookup times out');
  const start = Date.now();
  let found = null;
  while (found === null && Date.now() - start < 5_000) {
    found = await store.findTokenByHash(record.hash).catch(() => null);
    if (found === null) await new Promise((r) => setTimeout(r, 50));
  }
  t.equal(found?.id, record.id, 'lookups work again on a new connection');
  t.ok(Date.now() - start < 2_000, `within ${Date.now() - start} ms`);
});
