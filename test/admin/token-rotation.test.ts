import t from 'tap';
import { isWellFormed } from '../../gateway/auth/token-format';
import { hostOf, startGateway, type Teardown, type TestGateway } from '../helpers/gateway';
import { get } from '../helpers/http';
import { adminCall, within } from '../helpers/ops';
import { startRedis } from '../helpers/redis';
import { startUpstream } from '../helpers/upstream';

/** SPEC §6: once the overlap ends, the old secret is refused everywhere within one second. */
const REFUSED_WITHIN_MS = 1_000;

/** Two gateways (two replicas) on one private redis-server, each with its own token cache. */
async function setup(t: Teardown & { teardown(fn: () => unknown): void }) {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const up = await startUpstream(t);
  const options = {
    store: { driver: 'redis' as const, url: redis.url },
    deployments: [{ name: 'guarded', access: 'protected' as const, upstreams: [up.url] }],
  };
  const a = await startGateway(t, options);
  const b = await startGateway(t, options);
  const dev = await a.mint({ developer: true, owner: 'alice' });
  const api = (method: string, path: string, body?: unknown) => adminCall(a.admin, dev.secret, method, path, body);
  return { a, b, api, replicas: [a, b] };
}

const call = async (gw: TestGateway, secret: string): Promise<number> =>
  (await get(gw.external + '/x', { host: hostOf('guarded'), authorization: `Bearer ${secret}` })).status;

t.test('rotation: same token, a new secret; the old one works for the overlap, then nowhere', async (t) => {
  const { a, api, replicas } = await setup(t);
  const expiresAt = new Date(Date.now() + 86_400_000).toISOString();
  const { secret: old, token } = await a.mint({ user: ['guarded'], expiresAt, name: 'rolled', limits: { concurrent: 50 } });
  for (const gw of replicas) t.equal(await call(gw, old), 200, 'accepted (and cached) before the rotation');

  const res = await api('POST', `/v1/tokens/${token.id}/rotate`, { overlap: '3s' });
  const rotatedAt = Date.now();
  t.equal(res.status, 200);
  const body = res.json<{ token: Record<string, unknown>; secret: string; previous_secret_valid_until: string }>();
  t.ok(isWellFormed(body.secret), 'a well-formed new secret');
  t.not(body.secret, old);
  t.same(body.token, {
    id: token.id, name: 'rolled', description: '', owner: 'tester', created_at: token.createdAt, expires_at: expiresAt,
    last_used_at: body.token.last_used_at, disabled: false, user: { deployments: ['guarded'] }, developer: false,
    limits: { requests_per_minute: null, concurrent: 50 },
  }, 'same id, scopes, limits and expiry');
  const until = Date.parse(body.previous_secret_valid_until);
  t.ok(Math.abs(until - (rotatedAt + 3_000)) < 1_000, 'the answer says when the old secret stops');

  for (const gw of replicas) {
    t.equal(await call(gw, body.secret), 200, 'the new secret works on every replica');
    t.equal(await call(gw, old), 200, 'the old one too, during the overlap');
  }
  const took = await Promise.all(replicas.map((gw) => within(until - Date.now() + REFUSED_WITHIN_MS + 2_000, async () => (await call(gw, old)) === 401, until)));
  for (const ms of took) t.ok(ms !== null && ms <= REFUSED_WITHIN_MS, `the old secret refused ${String(ms)} ms after the overlap ended`);
  for (const gw of replicas) t.equal(await call(gw, body.secret), 200, 'the new one still works');
  t.notOk(a.rawLog().includes(body.secret), 'the new secret is in no log line');
});

t.test('rotation without overlap: the old secret stops everywhere within a second, even where cached', async (t) => {
  const { a, api, replicas } = await setup(t);
  const { secret: old, token } = await a.mint({ user: ['guarded'] });
  for (const gw of replicas) t.equal(await call(gw, old), 200);
  const res = await api('POST', `/v1/tokens/${token.id}/rotate`);
  const since = Date.now();
  t.equal(res.status, 200);
  t.equal(res.json().previous_secret_valid_until, null);
  const took = await Promise.all(replicas.map((gw) => within(REFUSED_WITHIN_MS + 2_000, async () => (await call(gw, old)) === 401, since)));
  for (const ms of took) t.ok(ms !== null && ms <= REFUSED_WITHIN_MS, `refused after ${String(ms)} ms`);
  for (const gw of replicas) t.equal(await call(gw, res.json<{ secret: string }>().secret), 200);
});

t.test('rotating twice within an overlap: only the secret just replaced keeps working', async (t) => {
  const { a, api, replicas } = await setup(t);
  const { secret: first, token } = await a.mint({ user: ['guarded'] });
  const second = (await api('POST', `/v1/tokens/${token.id}/rotate`, { overlap: '10m' })).json<{ secret: string }>().secret;
  for (const gw of replicas) {
    t.equal(await call(gw, first), 200, 'the first secret, in its overlap (and now cached)');
    t.equal(await call(gw, second), 200);
  }
  const res = await api('POST', `/v1/tokens/${token.id}/rotate`, { overlap: '10m' });
  const since = Date.now();
  t.equal(res.status, 200);
  const third = res.json<{ secret: string }>().secret;
  const took = await Promise.all(replicas.map((gw) => within(REFUSED_WITHIN_MS + 2_000, async () => (await call(gw, first)) === 401, since)));
  for (const ms of took) t.ok(ms !== null && ms <= REFUSED_WITHIN_MS, `the first secret refused after ${String(ms)} ms: its overlap ended with the second rotation`);
  for (const gw of replicas) {
    t.equal(await call(gw, second), 200, 'the second secret has the new overlap');
    t.equal(await call(gw, third), 200, 'the third is the current one');
  }
  const disabled = await api('PATCH', `/v1/tokens/${token.id}`, { disabled: true });
  t.equal(disabled.status, 200);
  const off = await Promise.all(replicas.map((gw) => within(REFUSED_WITHIN_MS + 2_000, async () => (await call(gw, second)) === 401, Date.now())));
  t.ok(off.every((ms) => ms !== null && ms <= REFUSED_WITHIN_MS), 'disabling the token refuses the secret in its overlap too');
});

t.test('bad input: overlap past 7d or malformed is 400 overlap; disabled or expired is 409; unknown is 404', async (t) => {
  const { a, api } = await setup(t);
  const { token } = await a.mint({ user: ['guarded'] });
  for (const overlap of ['8d', '7d1h', '169h', 'soon', '10', '-1m', 600, true, '']) {
    const res = await api('POST', `/v1/tokens/${token.id}/rotate`, { overlap });
    t.equal(res.status, 400, `overlap ${JSON.stringify(overlap)}`);
    t.equal(res.json().error, 'invalid_field');
    t.equal(res.json().field, 'overlap');
  }
  t.equal((await api('POST', `/v1/tokens/${token.id}/rotate`, { overlap: '7d' })).status, 200, '7d is the most');
  t.equal((await api('POST', `/v1/tokens/${token.id}/rotate`, { overlap: '0s' })).status, 200);
  t.equal((await api('POST', `/v1/tokens/${token.id}/rotate`, { overlap: '1m', secret: 'x' })).json().field, 'secret', 'unknown fields refused');
  t.equal((await api('POST', `/v1/tokens/${token.id}/rotate`, '[]')).status, 400);

  await api('PATCH', `/v1/tokens/${token.id}`, { disabled: true });
  const disabled = await api('POST', `/v1/tokens/${token.id}/rotate`, {});
  t.equal(disabled.status, 409);
  t.match(disabled.json().message, /disabled/);

  const expiring = await a.mint({ user: ['guarded'], expiresAt: new Date(Date.now() + 300).toISOString() });
  await new Promise((r) => setTimeout(r, 400));
  const expired = await api('POST', `/v1/tokens/${expiring.token.id}/rotate`, {});
  t.equal(expired.status, 409);
  t.match(expired.json().message, /expired/);

  const unknown = await api('POST', '/v1/tokens/tok_nope/rotate', {});
  t.equal(unknown.status, 404);
  t.match(unknown.json().message, /tok_nope/);
  t.equal((await api('GET', `/v1/tokens/${token.id}/rotate`)).status, 405);
});
