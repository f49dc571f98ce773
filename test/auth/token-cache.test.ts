import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { TokenCache, type CacheEntry, type Lookup } from '../../gateway/auth/token-cache';
import type { CacheConfig } from '../../gateway/config/schema';
import { GatehouseError } from '../../gateway/errors';
import { EmbeddedStore } from '../../gateway/store/embedded-store';
import type { TokenRecord } from '../../gateway/store/types';
import { tokenRecord } from '../store/store-contract';
import { sleep } from './probes';

/** A real embedded store that counts its token reads and can hold one in flight. */
class CountingStore extends EmbeddedStore {
  reads = 0;
  /** When set, a read fetches its answer at once, then waits for this before returning it. */
  hold: Promise<void> | undefined;
  /** When set, a read waits for this before it asks the store. */
  holdBeforeRead: Promise<void> | undefined;

  override async findTokenByHash(hash: string): Promise<TokenRecord | null> {
    this.reads++;
    if (this.holdBeforeRead) await this.holdBeforeRead;
    const record = await super.findTokenByHash(hash);
    if (this.hold) await this.hold;
    return record;
  }
}

/** Makes the store's reads wait, once they have their answer, until the returned function lets them go. */
function holdReads(store: CountingStore): () => void {
  let release = (): void => {};
  store.hold = new Promise((resolve) => { release = resolve; });
  return () => {
    store.hold = undefined;
    release();
  };
}

function newStore(t: Test): CountingStore {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-cache-'));
  const store = new CountingStore(join(dir, 'store.db'));
  t.teardown(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return store;
}

const SETTINGS: CacheConfig = { maxEntries: 1000, ttl: 500, negativeTtl: 300, staleIfError: 1_500 };

async function settle(lookup: Lookup): Promise<CacheEntry> {
  return lookup;
}

t.test('a fresh entry answers synchronously, without a store read, for ttl', async (t) => {
  const store = newStore(t);
  const record = tokenRecord();
  await store.createToken(record);
  const cache = new TokenCache(store, SETTINGS);

  const first = cache.lookup(record.hash);
  t.ok(first instanceof Promise, 'a miss goes to the store');
  t.same((await first).record, record);
  const second = cache.lookup(record.hash);
  t.notOk(second instanceof Promise, 'a hit is answered synchronously');
  t.same((second as CacheEntry).record, record);
  t.equal(store.reads, 1);

  await sleep(SETTINGS.ttl + 50);
  const third = cache.lookup(record.hash);
  t.ok(third instanceof Promise, 'past ttl the store is asked again');
  await third;
  t.equal(store.reads, 2);
});

t.test('a refused token is remembered for negativeTtl, then looked up again', async (t) => {
  const store = newStore(t);
  const record = tokenRecord();
  const cache = new TokenCache(store, SETTINGS);

  t.equal((await settle(cache.lookup(record.hash))).record, null, 'unknown');
  await store.createToken(record);
  const again = cache.lookup(record.hash);
  t.notOk(again instanceof Promise, 'the negative entry answers');
  t.equal((again as CacheEntry).record, null, 'still unknown inside negativeTtl');
  t.equal(store.reads, 1);

  await sleep(SETTINGS.negativeTtl + 50);
  t.same((await settle(cache.lookup(record.hash))).record, record, 'found after negativeTtl');
  t.equal(store.reads, 2);
});

t.test('while the store fails, entries serve until staleIfError after their fetch', async (t) => {
  const store = newStore(t);
  const record = tokenRecord();
  await store.createToken(record);
  const cache = new TokenCache(store, SETTINGS);
  await cache.lookup(record.hash);
  const fetchedAt = Date.now();
  await store.close(); // every read now fails

  await sleep(SETTINGS.ttl + 50);
  t.same((await settle(cache.lookup(record.hash))).record, record, 'stale entry served past ttl');
  await t.rejects(settle(cache.lookup(tokenRecord().hash)), { code: 'store_unavailable' }, 'a never-seen token cannot be told');

  await sleep(fetchedAt + SETTINGS.staleIfError + 50 - Date.now());
  const err = await settle(cache.lookup(record.hash)).then(() => null, (e: unknown) => e);
  t.ok(err instanceof GatehouseError, 'past staleIfError it fails');
  t.equal((err as GatehouseError).code, 'store_unavailable');
  t.ok(((err as GatehouseError).retryAfter ?? 0) >= 1, 'with a Retry-After');
});

t.test('concurrent misses for one hash share one store read', async (t) => {
  const store = newStore(t);
  const record = tokenRecord();
  await store.createToken(record);
  const cache = new TokenCache(store, SETTINGS);
  const lookups = Array.from({ length: 100 }, () => cache.lookup(record.hash));
  const entries = await Promise.all(lookups.map(settle));
  t.ok(entries.every((e) => e.record?.id === record.id));
  t.equal(store.reads, 1);
});

t.test('a token revoked while its read is in flight is not cached', async (t) => {
  const store = newStore(t);
  const record = tokenRecord();
  await store.createToken(record);
  const cache = new TokenCache(store, { ...SETTINGS, ttl: 60_000 });

  const release = holdReads(store);
  const inflight = cache.lookup(record.hash); // reads the record, then waits
  await sleep(10);
  await store.deleteToken(record.id);
  cache.evict(record.hash); // what the revocation event does
  release();
  t.same((await settle(inflight)).record, record, 'the request that raced the revocation may pass');

  const after = await settle(cache.lookup(record.hash));
  t.equal(after.record, null, 'but the revoked token is not served from the cache afterwards');
});

t.test('at most maxEntries tokens are kept, known and unknown each', async (t) => {
  const store = newStore(t);
  const cache = new TokenCache(store, { ...SETTINGS, maxEntries: 10 });
  for (let i = 0; i < 50; i++) await cache.lookup(`unknown-${i}`);
  t.equal(cache.size, 10);
});

t.test('a flood of unknown tokens never evicts a valid one: no store read for it afterwards', async (t) => {
  const store = newStore(t);
  const cache = new TokenCache(store, { ...SETTINGS, maxEntries: 20, ttl: 60_000, negativeTtl: 60_000 });
  const valid = Array.from({ length: 20 }, () => tokenRecord());
  for (const record of valid) await store.createToken(record);
  for (const record of valid) await cache.lookup(record.hash);
  t.equal(store.reads, 20, 'each valid token read once');
  for (let i = 0; i < 2_000; i++) await cache.lookup(`bogus-${i}`);
  const before = store.reads;
  for (const record of valid) t.ok(!((await cache.lookup(record.hash)).record === null));
  t.equal(store.reads - before, 0, 'the valid tokens are all still cached after 2,000 unknown ones');
  t.ok(cache.size <= 40, `memory stays bounded (${cache.size} entries)`);
});

t.test('reconfigure applies new lifetimes', async (t) => {
  const store = newStore(t);
  const record = tokenRecord();
  await store.createToken(record);
  const cache = new TokenCache(store, { ...SETTINGS, ttl: 60_000 });
  await cache.lookup(record.hash);
  cache.reconfigure({ ...SETTINGS, ttl: 50 });
  await cache.lookup(record.hash); // still the old entry's lifetime: a hit
  t.equal(store.reads, 1);
  cache.clear();
  await cache.lookup(record.hash);
  await sleep(100);
  t.ok(cache.lookup(record.hash) instanceof Promise, 'an entry fetched after reconfigure lives the new ttl');
  t.equal(store.reads, 3);
});

t.test('a revocation that arrives while a refresh is failing is not undone by the stale entry', async (t) => {
  const store = newStore(t);
  const record = tokenRecord();
  await store.createToken(record);
  const cache = new TokenCache(store, { ...SETTINGS, staleIfError: 60_000 });
  await cache.lookup(record.hash);
  await sleep(SETTINGS.ttl + 50);

  let release = (): void => {};
  store.holdBeforeRead = new Promise((resolve) => { release = resolve; });
  const refresh = cache.lookup(record.hash); // past ttl: a store read, held before it reaches the store
  cache.evict(record.hash); // the revocation event
  await store.close(); // and then the store fails the read
  release();
  const outcome = await settle(refresh).then((entry) => entry.record, (err: unknown) => err);
  t.ok(outcome instanceof GatehouseError, 'the entry known to be out of date is not served');
  t.match(outcome, { code: 'store_unavailable' });
});

t.test('expireAll (changes may have been missed): every entry is read again, and served stale while the store fails', async (t) => {
  const store = newStore(t);
  const record = tokenRecord();
  await store.createToken(record);
  const cache = new TokenCache(store, { ...SETTINGS, ttl: 60_000, staleIfError: 60_000 });
  await cache.lookup(record.hash);
  t.notOk(cache.lookup(record.hash) instanceof Promise, 'fresh: a hit');
  cache.expireAll();
  const reread = cache.lookup(record.hash);
  t.ok(reread instanceof Promise, 'after expireAll: a store read');
  t.same((await settle(reread)).record, record);
  t.equal(store.reads, 2);
  t.notOk(cache.lookup(record.hash) instanceof Promise, 'the new read is fresh again');

  cache.expireAll();
  await store.close();
  const stale = await settle(cache.lookup(record.hash));
  t.same(stale.record, record, 'the store fails: the entry from before is still used (staleIfError)');
});

t.test('a read in flight when expireAll comes is kept as from before it: read again next time, served stale while the store fails', async (t) => {
  const store = newStore(t);
  const record = tokenRecord();
  await store.createToken(record);
  const cache = new TokenCache(store, { ...SETTINGS, ttl: 60_000, staleIfError: 60_000 });

  const release = holdReads(store);
  const inflight = cache.lookup(record.hash); // reads the record, then waits
  await sleep(10);
  cache.expireAll(); // e.g. the store's subscription came up only now
  release();
  t.same((await settle(inflight)).record, record, 'the request that raced the reset passes');

  await store.close();
  const stale = await settle(cache.lookup(record.hash)).then((entry) => entry.record, (err: unknown) => err);
  t.same(stale, record, 'the store fails: the entry read across the reset is still used (staleIfError)');
  t.equal(store.reads, 2, 'it was read again first, not taken as fresh');
});

t.test('a lookup after expireAll does not join a read that started before it', async (t) => {
  const store = newStore(t);
  const record = tokenRecord();
  await store.createToken(record);
  const cache = new TokenCache(store, { ...SETTINGS, ttl: 60_000 });

  const release = holdReads(store);
  const before = cache.lookup(record.hash);
  await sleep(10);
  cache.expireAll();
  const after = cache.lookup(record.hash);
  t.not(after, before, 'a read of its own');
  release();
  await Promise.all([settle(before), settle(after)]);
  t.equal(store.reads, 2);
  t.notOk(cache.lookup(record.hash) instanceof Promise, 'the read made after the reset is fresh');
});
