import t from 'tap';
import { hostOf, spawnGateway, writeConfig, type GatewayProcess } from '../helpers/gateway';
import { get } from '../helpers/http';
import { adminCall, mintInStore, within } from '../helpers/ops';
import { startRedis } from '../helpers/redis';
import { startUpstream } from '../helpers/upstream';

type Tap = Pick<typeof t, 'equal' | 'ok'>;

/** SPEC §4: revocation and Deployment changes reach every process sharing the store within one second. */
const PROPAGATION_MS = 1_000;

t.test('three gateway processes on one redis-server: changes made through A reach B and C within a second', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const up = await startUpstream(t);
  const { file } = writeConfig({
    store: { driver: 'redis', url: redis.url },
    deployments: [{ name: 'guarded', access: 'protected', upstreams: [up.url] }],
  });
  // One at a time: each compiles the gateway at start, and the machine has 2 cores.
  const a = await spawnGateway(t, file);
  const b = await spawnGateway(t, file);
  const c = await spawnGateway(t, file);
  const admin = (p: GatewayProcess) => `http://127.0.0.1:${p.ports.admin}`;
  const external = (p: GatewayProcess, host: string, token?: string) => get(`http://127.0.0.1:${p.ports.external}/x`,
    token === undefined ? { host } : { host, authorization: `Bearer ${token}` });
  const [dev, revoked, disabled, expiring] = await mintInStore(file, [
    { developer: true, owner: 'ops' }, { user: ['guarded'] }, { user: ['guarded'] }, { user: ['guarded'] },
  ]);
  const api = (method: string, path: string, body?: unknown) => adminCall(admin(a), dev.secret, method, path, body);

  const others = [b, c];
  const warm = async (t: Tap, secret: string): Promise<void> => {
    for (const p of others) t.equal((await external(p, hostOf('guarded'), secret)).status, 200, 'accepted (and cached) before the change');
  };
  const refusedEverywhere = async (t: Tap, what: string, secret: string, since: number, budget = PROPAGATION_MS): Promise<void> => {
    const took = await Promise.all(others.map((p) => within(budget + 2_000, async () => (await external(p, hostOf('guarded'), secret)).status === 401, since)));
    for (const [i, ms] of took.entries()) {
      t.ok(ms !== null && ms <= budget, `${what}: refused by ${i === 0 ? 'B' : 'C'} after ${String(ms)} ms`);
    }
  };

  t.test('a revocation', async (t) => {
    await warm(t, revoked.secret);
    const res = await api('DELETE', `/v1/tokens/${revoked.token.id}`);
    const since = Date.now();
    t.equal(res.status, 204);
    await refusedEverywhere(t, 'revoked', revoked.secret, since);
  });

  t.test('a disable', async (t) => {
    await warm(t, disabled.secret);
    const res = await api('PATCH', `/v1/tokens/${disabled.token.id}`, { disabled: true });
    const since = Date.now();
    t.equal(res.status, 200);
    await refusedEverywhere(t, 'disabled', disabled.secret, since);
  });

  t.test('an expiry change', async (t) => {
    await warm(t, expiring.secret);
    const expiresAt = Date.now() + 1_500;
    const res = await api('PATCH', `/v1/tokens/${expiring.token.id}`, { expires_at: new Date(expiresAt).toISOString() });
    t.equal(res.status, 200);
    t.equal((await external(b, hostOf('guarded'), expiring.secret)).status, 200, 'still valid until the new expiry');
    await new Promise((r) => setTimeout(r, Math.max(0, expiresAt - Date.now())));
    await refusedEverywhere(t, 'expired', expiring.secret, expiresAt);
  });

  t.test('a Deployment\'s access type changed to private', async (t) => {
    const created = await api('PUT', '/v1/deployments/dyn', { access: 'public', upstreams: [up.url] });
    t.equal(created.status, 201);
    const routed = await Promise.all(others.map((p) => within(PROPAGATION_MS + 2_000, async () => (await external(p, hostOf('dyn'))).status === 200)));
    t.ok(routed.every((ms) => ms !== null && ms <= PROPAGATION_MS), `a new Deployment is routed by B and C (${routed.join(', ')} ms)`);
    const res = await api('PATCH', '/v1/deployments/dyn', { access: 'private' });
    const since = Date.now();
    t.equal(res.status, 200);
    const hidden = await Promise.all(others.map((p) => within(PROPAGATION_MS + 2_000, async () => (await external(p, hostOf('dyn'))).status === 404, since)));
    for (const [i, ms] of hidden.entries()) t.ok(ms !== null && ms <= PROPAGATION_MS, `private: 404 at ${i === 0 ? 'B' : 'C'} after ${String(ms)} ms`);
    const internal = await get(`http://127.0.0.1:${c.ports.internal}/x`, { host: hostOf('dyn') });
    t.equal(internal.status, 200, 'still served on the internal listener');
  });

  t.test('the propagation events are counted', async (t) => {
    const metrics = await get(`${admin(b)}/metrics`);
    t.match(metrics.text, /gatehouse_propagation_events_total\{kind="token"\} [1-9]/);
    t.match(metrics.text, /gatehouse_propagation_events_total\{kind="deployment"\} [1-9]/);
  });
});
