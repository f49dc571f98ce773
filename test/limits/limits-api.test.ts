import t from 'tap';
import { validateConfig } from '../../gateway/config/validate';
import { hostOf, startGateway } from '../helpers/gateway';
import { get } from '../helpers/http';
import { adminCall } from '../helpers/ops';
import { startUpstream } from '../helpers/upstream';

type Json = Record<string, unknown>;

t.test('token limits through the admin API: create, change, remove, refuse bad ones', async (t) => {
  const up = await startUpstream(t);
  const gw = await startGateway(t, { deployments: [{ name: 'llm', access: 'protected', upstreams: [up.url] }] });
  const dev = (await gw.mint({ developer: true })).secret;
  const api = (method: string, path: string, body?: unknown) => adminCall(gw.admin, dev, method, path, body);

  const created = await api('POST', '/v1/tokens', { name: 'caller', user: { deployments: ['llm'] }, limits: { requests_per_minute: 600, concurrent: 4 } });
  t.equal(created.status, 201);
  const token = created.json<{ token: Json; secret: string }>();
  t.same(token.token.limits, { requests_per_minute: 600, concurrent: 4 });
  const id = String(token.token.id);
  t.same((await api('GET', `/v1/tokens/${id}`)).json<{ token: Json }>().token.limits, { requests_per_minute: 600, concurrent: 4 });
  t.equal((await api('POST', '/v1/tokens', { name: 'plain', developer: true })).json<{ token: Json }>().token.limits, null, 'no limits: null');

  const patched = await api('PATCH', `/v1/tokens/${id}`, { limits: { requests_per_minute: 6 } });
  t.equal(patched.status, 200);
  t.same(patched.json<{ token: Json }>().token.limits, { requests_per_minute: 6, concurrent: null }, 'PATCH replaces the limits as given');
  const call = () => get(`${gw.external}/`, { host: hostOf('llm'), authorization: `Bearer ${token.secret}` });
  t.equal((await call()).status, 200);
  t.equal((await call()).status, 429, 'the new limit applies at once in this process');
  const removed = await api('PATCH', `/v1/tokens/${id}`, { limits: null });
  t.equal(removed.json<{ token: Json }>().token.limits, null, 'null removes them');
  t.equal((await call()).status, 200, 'and the token is unlimited again');

  const bad: [unknown, string][] = [
    [{ requests_per_minute: 0 }, 'limits.requests_per_minute'],
    [{ requests_per_minute: -5 }, 'limits.requests_per_minute'],
    [{ requests_per_minute: 1.5 }, 'limits.requests_per_minute'],
    [{ requests_per_minute: '600' }, 'limits.requests_per_minute'],
    [{ concurrent: 1_000_000_001 }, 'limits.concurrent'],
    [{ concurrent: 0 }, 'limits.concurrent'],
    [{ burst: 3 }, 'limits.burst'],
    [[600], 'limits'],
    [600, 'limits'],
  ];
  for (const [limits, field] of bad) {
    for (const [method, path, extra] of [['POST', '/v1/tokens', { name: 'x', developer: true }], ['PATCH', `/v1/tokens/${id}`, {}]] as const) {
      const r = await api(method, path, { ...extra, limits });
      t.equal(r.status, 400, `${method} ${JSON.stringify(limits)}: 400`);
      t.equal(r.json().field, field, `naming ${field}`);
    }
  }
  t.equal((await api('POST', '/v1/tokens', { name: 'max', developer: true, limits: { concurrent: 1_000_000_000 } })).status, 201, '10^9 is accepted');
});

t.test('Deployment limits through the admin API', async (t) => {
  const up = await startUpstream(t);
  const gw = await startGateway(t, { deployments: [] });
  const dev = (await gw.mint({ developer: true })).secret;
  const api = (method: string, path: string, body?: unknown) => adminCall(gw.admin, dev, method, path, body);
  const put = await api('PUT', '/v1/deployments/pool', { access: 'protected', upstreams: [up.url], limits: { requests_per_minute: 60, concurrent: 2 } });
  t.equal(put.status, 201);
  t.same(put.json<{ deployment: Json }>().deployment.limits, { requests_per_minute: 60, concurrent: 2 });
  const view = (await api('GET', '/v1/deployments/pool')).json<{ deployment: Json }>().deployment;
  t.equal((await api('PUT', '/v1/deployments/pool', view)).status, 200, 'what GET answers can be sent back');
  const camel = await api('PATCH', '/v1/deployments/pool', { limits: { requestsPerMinute: 30 } });
  t.same(camel.json<{ deployment: Json }>().deployment.limits, { requests_per_minute: 30, concurrent: null }, "the config's spelling is taken too");
  t.equal((await api('PATCH', '/v1/deployments/pool', { limits: null })).json<{ deployment: Json }>().deployment.limits, null, 'null removes them');
  for (const [limits, field] of [
    [{ concurrent: 0 }, 'limits.concurrent'], [{ concurrent: -2 }, 'limits.concurrent'], [{ concurrent: 2.5 }, 'limits.concurrent'],
    [{ requests_per_minute: 0 }, 'limits.requests_per_minute'], [{ requests_per_minute: -60 }, 'limits.requests_per_minute'],
    [{ requests_per_minute: 1.5 }, 'limits.requests_per_minute'], [{ requests_per_minute: 2e9 }, 'limits.requests_per_minute'],
    [{ requests_per_minute: 'x' }, 'limits.requests_per_minute'],
  ] as const) {
    const r = await api('PATCH', '/v1/deployments/pool', { limits });
    t.equal(r.status, 400, `${JSON.stringify(limits)}: 400`);
    t.equal(r.json().field, field);
  }
});

t.test('Deployment limits in the config file', async (t) => {
  const base = { organization: 'acme', domain: 'gw.test', listeners: {} };
  const deployment = (limits: unknown) => ({ ...base, deployments: [{ name: 'llm', access: 'protected', upstreams: ['http://127.0.0.1:1'], limits }] });
  t.same(validateConfig(deployment({ requestsPerMinute: 600, concurrent: 4 }), 'x.yaml').deployments[0]!.limits, { requestsPerMinute: 600, concurrent: 4 });
  t.same(validateConfig(deployment({ concurrent: '${SLOTS}' }), 'x.yaml', { SLOTS: '8' }).deployments[0]!.limits, { concurrent: 8 }, 'from the environment');
  t.throws(() => validateConfig(deployment({ requestsPerMinute: 0 }), 'x.yaml'), /deployments\[0\]\.limits\.requestsPerMinute: must be at least 1/);
  t.throws(() => validateConfig(deployment({ concurrent: 2.5 }), 'x.yaml'), /deployments\[0\]\.limits\.concurrent: must be a whole number/);
  t.throws(() => validateConfig(deployment({ requests_per_minute: 5 }), 'x.yaml'), /deployments\[0\]\.limits\.requests_per_minute: unknown key/);
});
