import t, { type Test } from 'tap';
import { generateSecret } from '../../gateway/auth/token-format';
import { hostOf, startGateway, type GatewayOptions, type TestGateway } from '../helpers/gateway';
import { get } from '../helpers/http';
import { within } from '../helpers/ops';
import { listenOn } from '../helpers/ports';
import { startCluster, startSentinelSet } from '../helpers/redis-topology';
import { startUpstream } from '../helpers/upstream';

/**
 * A free port whose cluster bus port (+10000) is free too, both below Linux's ephemeral range
 * (32768+): Redis starts on them later, and a port the OS hands out by itself meanwhile (a
 * listener on port 0, an outgoing connection) cannot be either.
 */
async function reservedPort(): Promise<number> {
  for (;;) {
    const port = 10_000 + Math.floor(Math.random() * 12_000);
    const held = await Promise.all([listenOn(port), listenOn(port + 10_000)].map((p) => p.catch(() => null)));
    await Promise.all(held.map((server) => server && new Promise<void>((resolve) => server.close(() => resolve()))));
    if (held.every((server) => server !== null)) return port;
  }
}

/** Redis that is not there: the gateway serves what needs no store, and says it is not ready. */
async function degraded(t: Test, gw: TestGateway, key: string): Promise<void> {
  t.equal((await get(`${gw.admin}/readyz`)).status, 503, '/readyz: 503');
  t.ok(gw.logs.some((l) => l.level === 50 && l.key === key), `the store error is logged with the key path ${key}`);
  t.equal((await get(`${gw.external}/x`, { host: hostOf('open') })).status, 200, 'a public route serves');
  const guarded = await get(`${gw.external}/x`, { host: hostOf('guarded'), authorization: `Bearer ${generateSecret()}` });
  t.equal(guarded.status, 503, 'a protected route: 503 (the token cannot be checked)');
  t.ok(Number(guarded.headers['retry-after']) >= 1, 'with Retry-After');
}

/** Redis appeared: ready again, and a token minted now is accepted, with no restart. */
async function recovered(t: Test, gw: TestGateway): Promise<void> {
  const ready = await within(15_000, async () => (await get(`${gw.admin}/readyz`)).status === 200, Date.now(), 100);
  t.ok(ready !== null, `/readyz: 200 again ${String(ready)} ms later`);
  const { secret } = await gw.mint({ user: ['guarded'] });
  t.equal((await get(`${gw.external}/x`, { host: hostOf('guarded'), authorization: `Bearer ${secret}` })).status, 200, 'tokens work');
}

t.test('serve starts on an unreachable Sentinel or Cluster store, and recovers by itself', async (t) => {
  const up = await startUpstream(t);
  const options = (store: GatewayOptions['store']): GatewayOptions => ({
    store,
    deployments: [
      { name: 'guarded', access: 'protected', upstreams: [up.url] },
      { name: 'open', access: 'public', upstreams: [up.url] },
    ],
  });
  const sentinelPorts = [await reservedPort(), await reservedPort(), await reservedPort()];
  const sentinels = sentinelPorts.map((p) => `127.0.0.1:${p}`);

  await t.test('sentinels that all refuse', async (t) => {
    const gw = await startGateway(t, options({ driver: 'redis', sentinels, name: 'mymaster' }));
    await degraded(t, gw, 'store.sentinels');
    const set = await startSentinelSet({ sentinelPorts });
    t.teardown(() => set.stop());
    await recovered(t, gw);

    await t.test('a name the sentinels do not know', async (t) => {
      const wrong = await startGateway(t, options({ driver: 'redis', sentinels, name: 'nosuch' }));
      await degraded(t, wrong, 'store.sentinels');
      const port = String(await set.primaryPort());
      for (const s of set.sentinelNodes) await s.command('SENTINEL', 'MONITOR', 'nosuch', '127.0.0.1', port, '2');
      await recovered(t, wrong);
    });
  });

  await t.test('a cluster seed list where no node answers', async (t) => {
    const ports = [await reservedPort(), await reservedPort(), await reservedPort()];
    const gw = await startGateway(t, options({ driver: 'redis', cluster: ports.map((p) => `127.0.0.1:${p}`) }));
    await degraded(t, gw, 'store.cluster');
    const cluster = await startCluster(3, ports);
    t.teardown(() => cluster.stop());
    await recovered(t, gw);
  });
});
