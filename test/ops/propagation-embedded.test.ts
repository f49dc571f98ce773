import t from 'tap';
import { hostOf, spawnGateway, writeConfig } from '../helpers/gateway';
import { get } from '../helpers/http';
import { adminCall, mintInStore, within } from '../helpers/ops';
import { startUpstream } from '../helpers/upstream';

/** SPEC §4: revocation and Deployment changes reach every process sharing the store within one second. */
const PROPAGATION_MS = 1_000;

t.test('two gateway processes on one embedded store: changes made through A reach B within a second', async (t) => {
  const up = await startUpstream(t);
  const { file } = writeConfig({ deployments: [{ name: 'guarded', access: 'protected', upstreams: [up.url] }] });
  const a = await spawnGateway(t, file);
  const b = await spawnGateway(t, file);
  const atB = (host: string, token?: string) => get(`http://127.0.0.1:${b.ports.external}/x`,
    token === undefined ? { host } : { host, authorization: `Bearer ${token}` });
  const [dev, revoked, disabled] = await mintInStore(file, [{ developer: true }, { user: ['guarded'] }, { user: ['guarded'] }]);
  const api = (method: string, path: string, body?: unknown) => adminCall(`http://127.0.0.1:${a.ports.admin}`, dev.secret, method, path, body);

  for (const [what, token, change] of [
    ['revoked', revoked, () => api('DELETE', `/v1/tokens/${revoked.token.id}`)],
    ['disabled', disabled, () => api('PATCH', `/v1/tokens/${disabled.token.id}`, { disabled: true })],
  ] as const) {
    t.equal((await atB(hostOf('guarded'), token.secret)).status, 200, `${what}: accepted (and cached) by B before`);
    const res = await change();
    const since = Date.now();
    t.ok(res.status === 204 || res.status === 200, `${what} through A`);
    const ms = await within(PROPAGATION_MS + 2_000, async () => (await atB(hostOf('guarded'), token.secret)).status === 401, since);
    t.ok(ms !== null && ms <= PROPAGATION_MS, `${what}: refused by B after ${String(ms)} ms`);
  }

  t.equal((await api('PUT', '/v1/deployments/dyn', { access: 'public', upstreams: [up.url] })).status, 201);
  const routed = await within(PROPAGATION_MS + 2_000, async () => (await atB(hostOf('dyn'))).status === 200);
  t.ok(routed !== null && routed <= PROPAGATION_MS, `a new Deployment is routed by B after ${String(routed)} ms`);
  const res = await api('PATCH', '/v1/deployments/dyn', { access: 'private' });
  const since = Date.now();
  t.equal(res.status, 200);
  const hidden = await within(PROPAGATION_MS + 2_000, async () => (await atB(hostOf('dyn'))).status === 404, since);
  t.ok(hidden !== null && hidden <= PROPAGATION_MS, `private: 404 at B after ${String(hidden)} ms`);
});
