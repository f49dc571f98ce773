import t from 'tap';
import { hostOf, startGateway, type TestGateway } from '../helpers/gateway';
import { get, type Reply } from '../helpers/http';
import { adminCall, within } from '../helpers/ops';
import { DOWN_AFTER_MS, startSentinelSet } from '../helpers/redis-topology';
import { startUpstream } from '../helpers/upstream';

/** Longer than the whole test: a cached token is read again only because the gateway assumes it missed changes (a reset). */
const TTL = '60s';
const FRESH_TOKENS = 120;

interface Sample { readonly at: number; readonly status: number; readonly retryAfter: string | undefined }

t.test('two gateways follow a Sentinel failover under traffic', async (t) => {
  const set = await startSentinelSet();
  t.teardown(() => set.stop());
  const up = await startUpstream(t);
  const options = {
    store: { driver: 'redis' as const, sentinels: set.sentinels, name: set.name },
    deployments: [
      { name: 'guarded', access: 'protected' as const, upstreams: [up.url] },
      { name: 'open', access: 'public' as const, upstreams: [up.url] },
    ],
    extra: { cache: { ttl: TTL }, failedAuth: { perMinute: 100_000 } },
  };
  const gateways = [await startGateway(t, options), await startGateway(t, options)];
  const a = gateways[0]!;
  const guarded = (gw: TestGateway, secret: string): Promise<Reply> =>
    get(`${gw.external}/x`, { host: hostOf('guarded'), authorization: `Bearer ${secret}` });
  const open = (gw: TestGateway): Promise<Reply> => get(`${gw.external}/x`, { host: hostOf('open') });

  const dev = await a.mint({ developer: true });
  const cached = await a.mint({ user: ['guarded'] });
  const revokedLater = await a.mint({ user: ['guarded'] });
  const fresh = await Promise.all(Array.from({ length: FRESH_TOKENS }, () => a.mint({ user: ['guarded'] })));
  const oldPort = await set.primaryPort();
  const primary = set.nodes.find((n) => n.port === oldPort)!;
  const replica = set.nodes.find((n) => n.port !== oldPort)!;
  await primary.command('WAIT', '1', '2000');
  for (const gw of gateways) {
    t.equal((await guarded(gw, cached.secret)).status, 200, 'the cached token works before');
    t.equal((await guarded(gw, revokedLater.secret)).status, 200, 'so does the one revoked later');
  }

  // A write the primary acknowledges and never replicates: the replica is cut off and frozen meanwhile.
  replica.pause();
  await primary.command('CLIENT', 'KILL', 'TYPE', 'replica');
  const lost = await a.mint({ user: ['guarded'] });
  for (const gw of gateways) t.equal((await guarded(gw, lost.secret)).status, 200, 'a token only the old primary knows is used (and cached)');

  const samples = gateways.map(() => ({ cached: [] as Sample[], open: [] as Sample[], fresh: [] as Sample[], ready: [] as Sample[] }));
  const sample = (r: Reply): Sample => ({ at: Date.now(), status: r.status, retryAfter: r.headers['retry-after'] as string | undefined });
  let next = 0;
  let traffic = true;
  const loads = gateways.map(async (gw, i) => {
    while (traffic) {
      const token = fresh[next++ % FRESH_TOKENS]!;
      const [c, o, f, r] = await Promise.all([guarded(gw, cached.secret), open(gw), guarded(gw, token.secret), get(`${gw.admin}/readyz`)]);
      samples[i]!.cached.push(sample(c));
      samples[i]!.open.push(sample(o));
      samples[i]!.fresh.push(sample(f));
      samples[i]!.ready.push(sample(r));
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  });

  await primary.kill();
  replica.resume();
  const killedAt = Date.now();
  await set.waitForNewPrimary(oldPort, 20_000);
  const promotedAt = Date.now();
  // Both gateways serve uncached tokens again with no restart.
  for (const gw of gateways) {
    const back = await within(10_000, async () => (await guarded(gw, fresh[0]!.secret)).status === 200, promotedAt, 50);
    t.ok(back !== null, `uncached tokens work again ${String(back)} ms after the sentinels promoted the replica`);
  }
  await new Promise((resolve) => setTimeout(resolve, 500));
  traffic = false;
  await Promise.all(loads);

  samples.forEach((s, i) => {
    const name = i === 0 ? 'gateway A' : 'gateway B';
    t.ok(s.cached.length > 10, `${name}: ${s.cached.length} rounds of traffic`);
    t.same([...new Set(s.cached.map((x) => x.status))], [200], `${name}: the cached token never failed`);
    t.same([...new Set(s.open.map((x) => x.status))], [200], `${name}: the public Deployment never failed`);
    const refused = s.fresh.filter((x) => x.status !== 200);
    t.ok(refused.every((x) => x.status === 503 && Number(x.retryAfter) >= 1), `${name}: uncached tokens got only 503 + Retry-After when refused`);
    const last503 = Math.max(killedAt, ...refused.map((x) => x.at));
    t.ok(last503 <= promotedAt + 2_000, `${name}: uncached tokens refused for ${last503 - killedAt} ms after the kill ` +
      `(the sentinels took ${promotedAt - killedAt} ms; down-after ${DOWN_AFTER_MS} ms)`);
    t.ok(s.ready.some((x) => x.status === 503), `${name}: /readyz said 503 while no primary was reachable`);
    t.equal(s.ready.at(-1)?.status, 200, `${name}: /readyz is 200 again`);
  });

  for (const gw of gateways) {
    const refusedAt = await within(2_000, async () => (await guarded(gw, lost.secret)).status === 401, promotedAt, 50);
    t.ok(refusedAt !== null, `the token whose write was lost is refused (${String(refusedAt)} ms after the promotion), not kept valid from the cache`);
    for (let i = 0; i < 5; i++) t.equal((await guarded(gw, lost.secret)).status, 401, 'and stays refused');
  }

  const revoke = await adminCall(a.admin, dev.secret, 'DELETE', `/v1/tokens/${revokedLater.token.id}`);
  t.equal(revoke.status, 204, 'a revocation after the failover, through gateway A');
  const revokedAt = Date.now();
  for (const gw of gateways) {
    const seen = await within(1_000, async () => (await guarded(gw, revokedLater.secret)).status === 401, revokedAt);
    t.ok(seen !== null, `obeyed within 1 s (${String(seen)} ms)`);
  }
  for (const gw of gateways) {
    const metrics = (await get(`${gw.admin}/metrics`)).text;
    t.match(metrics, /gatehouse_store_connection_events_total\{event="failover"\} [1-9]/, 'the failover is counted');
    t.match(metrics, /gatehouse_store_connection_events_total\{event="events_reconnected"\} [1-9]/, 'and the subscription that moved');
    t.ok(gw.logs.some((l) => l.key === 'store.sentinels' && l.event === 'failover'), 'and logged with the key path');
  }
});
