import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import type { LimitCall, LimitStore } from '../../gateway/limits/limit-store';
import { EmbeddedStore } from '../../gateway/store/embedded-store';
import { RedisStore } from '../../gateway/store/redis-store';
import type { Store } from '../../gateway/store/types';
import { startRedis } from '../helpers/redis';

/**
 * The counters both drivers keep, seen from several holders (processes) at
 * once: shared rate, shared slots, absolute slot counts, and leases that
 * lapse when a holder stops renewing them (a dead replica).
 */
function limitContract(t: Test, open: () => Promise<Store>): void {
  let tokens = 0;
  const slotCall = (tokenId: string, held: number, concurrent = 1): LimitCall =>
    ({ tokenId, rateScope: null, requestsPerMinute: 0, rateTake: 0, slotScope: '', concurrent, held, slotTake: 1 });

  const holders = async (t: Test, ...leases: number[]): Promise<LimitStore[]> => {
    const out: LimitStore[] = [];
    for (const [i, lease] of leases.entries()) {
      const store = await open();
      const limits = store.limitStore(`holder-${i}`, lease);
      t.teardown(async () => {
        await limits.close();
        await store.close();
      });
      out.push(limits);
    }
    return out;
  };

  t.test('slots are shared by every holder, and released by an absolute count', async (t) => {
    const [a, b] = await holders(t, 10_000, 10_000);
    const token = `tok_${++tokens}`;
    const first = await a.acquire(slotCall(token, 0));
    t.ok(first.allowed);
    t.equal(first.slotsFree, 0);
    const other = await b.acquire(slotCall(token, 0));
    t.notOk(other.allowed, 'another holder finds the one slot taken');
    t.equal(other.refusedBy, 'concurrency');
    await a.sync(token, '', 0);
    t.ok((await b.acquire(slotCall(token, 0))).allowed, 'free once its holder says it holds none');
  });

  t.test('a repeated or lost call corrects itself: the store keeps what the holder last said', async (t) => {
    const [a, b] = await holders(t, 10_000, 10_000);
    const token = `tok_${++tokens}`;
    t.ok((await a.acquire(slotCall(token, 0, 2))).allowed);
    // The same call again (a retry after a timeout that did run): still one slot, not two.
    t.ok((await a.acquire(slotCall(token, 0, 2))).allowed);
    const seen = await b.acquire(slotCall(token, 0, 2));
    t.ok(seen.allowed, 'the other holder still finds a slot');
    t.equal(seen.slotsFree, 0);
  });

  t.test("a holder that stops renewing loses its slots when its lease ends", async (t) => {
    // Long enough that a busy machine still makes the second call inside it.
    const [dying, alive] = await holders(t, 1_500, 10_000);
    const token = `tok_${++tokens}`;
    t.ok((await dying.acquire(slotCall(token, 0))).allowed);
    t.notOk((await alive.acquire(slotCall(token, 0))).allowed, 'taken while the lease runs');
    await new Promise((r) => setTimeout(r, 1_700));
    t.ok((await alive.acquire(slotCall(token, 0))).allowed, 'free after the lease');
  });

  t.test('the rate is one counter for every holder; scopes are separate', async (t) => {
    const [a, b] = await holders(t, 10_000, 10_000);
    const token = `tok_${++tokens}`;
    const rate = (scope: string): LimitCall => ({ tokenId: token, rateScope: scope, requestsPerMinute: 6, rateTake: 1, slotScope: null, concurrent: 0, held: 0, slotTake: 0 });
    const first = await a.acquire(rate(''));
    t.ok(first.allowed);
    t.equal(first.rateRemaining, 0);
    t.ok(first.rateResetMs > 9_000 && first.rateResetMs <= 10_000, `whole again in ~10 s (${first.rateResetMs} ms)`);
    const second = await b.acquire(rate(''));
    t.notOk(second.allowed);
    t.equal(second.refusedBy, 'rate');
    t.ok(second.rateWaitMs > 9_000 && second.rateWaitMs <= 10_000, `next one in ~10 s (${second.rateWaitMs} ms)`);
    t.ok((await b.acquire(rate('summarizer'))).allowed, "a Deployment's default limit counts apart from the token's own");
  });

  t.test('a batch takes what the allowance has, up to what is asked; a refusal takes none', async (t) => {
    const [a, b] = await holders(t, 10_000, 10_000);
    const token = `tok_${++tokens}`;
    // 600/min: a burst of 10.
    const rate = (take: number): LimitCall => ({ tokenId: token, rateScope: '', requestsPerMinute: 600, rateTake: take, slotScope: null, concurrent: 0, held: 0, slotTake: 0 });
    const first = await a.acquire(rate(4));
    t.equal(first.rateTaken, 4);
    t.equal(first.rateRemaining, 6);
    const rest = await b.acquire(rate(20));
    t.ok(rest.allowed);
    t.ok(rest.rateTaken >= 6 && rest.rateTaken <= 7, `the other holder gets the rest, not more (${rest.rateTaken})`);
    t.equal(rest.rateRemaining, 0);
    const none = await a.acquire(rate(4));
    t.equal(none.refusedBy, 'rate');
    t.equal(none.rateTaken, 0);
  });

  t.test('spare slots: as many as are free, up to what is asked', async (t) => {
    const [a, b] = await holders(t, 10_000, 10_000);
    const token = `tok_${++tokens}`;
    const slots = (held: number, take: number): LimitCall => ({ tokenId: token, rateScope: null, requestsPerMinute: 0, rateTake: 0, slotScope: '', concurrent: 10, held, slotTake: take });
    const first = await a.acquire(slots(0, 4));
    t.equal(first.slotsTaken, 4, 'the slot asked for and 3 spares');
    t.equal(first.slotsFree, 6);
    const other = await b.acquire(slots(0, 8));
    t.equal(other.slotsTaken, 6, 'the other holder gets what is left');
    const refused = await a.acquire(slots(4, 2));
    t.equal(refused.refusedBy, 'concurrency');
    t.equal(refused.slotsTaken, 0);
    await a.sync(token, '', 1);
    t.equal((await b.acquire(slots(6, 5))).slotsTaken, 3, 'spares written back are free for the others');
  });

  t.test('a refusal by one limit takes nothing from the other', async (t) => {
    const [a] = await holders(t, 10_000);
    const token = `tok_${++tokens}`;
    const both = (held: number): LimitCall => ({ tokenId: token, rateScope: '', requestsPerMinute: 600, rateTake: 1, slotScope: '', concurrent: 1, held, slotTake: 1 });
    t.ok((await a.acquire(both(0))).allowed);
    const refused = await a.acquire(both(1));
    t.equal(refused.refusedBy, 'concurrency');
    // 9 left after the first; 8 would mean the refused one was counted (10: 100 ms passed and one came back).
    t.ok(refused.rateRemaining >= 9, `the refused request used none of the burst of 10 (${refused.rateRemaining} left)`);
  });
}

t.test('redis', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  limitContract(t, () => RedisStore.connect({ driver: 'redis', url: redis.url, prefix: 'lim:' }));
  t.test('every key of a token carries its hash tag', async (t) => {
    const store = await RedisStore.connect({ driver: 'redis', url: redis.url, prefix: 'tag:' });
    const limits = store.limitStore('h', 10_000);
    t.teardown(async () => { await limits.close(); await store.close(); });
    await limits.acquire({ tokenId: 'tok_x', rateScope: '', requestsPerMinute: 60, rateTake: 1, slotScope: 'pool', concurrent: 1, held: 0, slotTake: 1 });
    const keys = (await redis.command('KEYS', 'tag:*')) as string[];
    t.same(keys.sort(), ['tag:limits:{tok_x}:', 'tag:limits:{tok_x}:pool']);
    const ttl = Number(await redis.command('PTTL', 'tag:limits:{tok_x}:'));
    t.ok(ttl > 0 && ttl <= 61_000 + 20_000, 'counters expire by themselves');
    // A restarted or failed-over Redis has no scripts: the check sends the script again.
    await redis.command('SCRIPT', 'FLUSH');
    const again = await limits.acquire({ tokenId: 'tok_x', rateScope: null, requestsPerMinute: 0, rateTake: 0, slotScope: 'pool', concurrent: 1, held: 1, slotTake: 1 });
    t.equal(again.refusedBy, 'concurrency', 'answered after SCRIPT FLUSH');
  });
});

t.test('embedded: one SQLite file, shared by every process on the host', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-limits-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'gatehouse.db');
  limitContract(t, async () => new EmbeddedStore(path));
});
