import t, { type Test } from 'tap';
import type { RedisStoreConfig } from '../../gateway/config/schema';
import { openStore } from '../../gateway/store/open-store';
import { RedisStore, type ConnectionEvent } from '../../gateway/store/redis-store';
import { StoreUnavailableError } from '../../gateway/store/types';
import { startSentinelSet, type SentinelSet } from '../helpers/redis-topology';
import { EventLog, isToken, storeContract, tokenRecord } from './store-contract';

const PASSWORD = 'sentinel-test-password';
let prefixes = 0;
const newPrefix = (): string => `sentinel${++prefixes}:`;

function sentinelConfig(set: SentinelSet, prefix: string): RedisStoreConfig {
  return {
    driver: 'redis', prefix, name: set.name, password: PASSWORD, tls: false,
    sentinels: set.sentinelNodes.map((n) => ({ host: '127.0.0.1', port: n.port })),
  };
}

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

async function connect(t: Test, set: SentinelSet, prefix: string, events: ConnectionEvent[] = []): Promise<RedisStore> {
  const store = await RedisStore.connect(sentinelConfig(set, prefix), { onConnectionEvent: (e) => events.push(e) });
  t.teardown(() => store.close());
  return store;
}

t.test('a Sentinel set with a password on its data nodes', async (t) => {
  const set = await startSentinelSet({ password: PASSWORD });
  t.teardown(() => set.stop());

  t.test('contract', async (t) => {
    storeContract(t, async () => {
      const prefix = newPrefix();
      return async () => openStore(sentinelConfig(set, prefix));
    });
  });

  t.test('the store follows a failover by itself', async (t) => {
    const prefix = newPrefix();
    const events: ConnectionEvent[] = [];
    const store = await connect(t, set, prefix, events);
    const other = await connect(t, set, prefix);
    const log = new EventLog();
    other.watch(log.listener);
    const record = tokenRecord();
    const created = log.waitFor(isToken(record.id, record.hash));
    await store.createToken(record);
    await created;
    await set.nodes[0]!.command('WAIT', '1', '2000'); // replicated: this write survives the failover

    const oldPort = await set.primaryPort();
    const reset = log.waitFor((e) => e.kind === 'reset', 15_000);
    await set.nodes.find((n) => n.port === oldPort)!.kill();
    const killedAt = Date.now();
    await t.rejects(store.findTokenByHash(record.hash), StoreUnavailableError, 'no primary: calls fail with StoreUnavailableError');
    const newPort = await set.waitForNewPrimary(oldPort, 15_000);
    const back = await until(() => store.findTokenByHash(record.hash), 10_000);
    t.ok(true, `the primary moved from ${oldPort} to ${newPort}; the same store answered ${Date.now() - killedAt} ms after the kill (${back} ms of retries)`);
    t.same(await store.findTokenByHash(record.hash), record, 'the replicated record is there');
    await reset;
    t.pass('the other store announced a reset: its subscription moved to the new primary');
    const revoked = log.waitFor(isToken(record.id, record.hash));
    await store.updateToken(record.id, { disabled: true });
    t.ok((await revoked) < 1_000, 'a change after the failover reaches the other store within a second');
    await until(async () => { if (!events.includes('failover')) throw new Error('no failover event yet'); }, 5_000);
    t.ok(events.includes('commands_reconnected'), `connection events: ${events.join(', ')}`);
  });
});
