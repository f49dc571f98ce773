import t from 'tap';
import { isWellFormed } from '../../gateway/auth/token-format';
import { startGateway, hostOf, type Teardown, type TestGateway } from '../helpers/gateway';
import { get, type Reply } from '../helpers/http';
import { startUpstream } from '../helpers/upstream';

type Json = Record<string, unknown>;

/** Calls the admin API with a token; `body` is sent as JSON (a string is sent as is). */
function api(gw: TestGateway, token: string | undefined, method: string, path: string, body?: unknown): Promise<Reply> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (token !== undefined) headers.authorization = `Bearer ${token}`;
  const text = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
  return get(gw.admin + path, headers, { method, body: text });
}

async function setup(t: Teardown) {
  const up = await startUpstream(t);
  const gw = await startGateway(t, {
    deployments: [
      { name: 'guarded', access: 'protected', upstreams: [up.url] },
      { name: 'open', access: 'public', upstreams: [up.url] },
    ],
  });
  const dev = await gw.mint({ name: 'ops', developer: true, owner: 'alice' });
  const user = await gw.mint({ name: 'caller', user: ['guarded'], owner: 'bob' });
  return { up, gw, dev: dev.secret, devId: dev.token.id, user: user.secret };
}

t.test('authentication: 401 without or with a bad token, 403 for a non-developer token', async (t) => {
  const { gw, user } = await setup(t);
  const none = await api(gw, undefined, 'GET', '/v1/whoami');
  t.equal(none.status, 401);
  t.equal(none.headers['www-authenticate'], 'Bearer realm="acme"');
  t.same(Object.keys(none.json()).sort(), ['error', 'message', 'request_id']);
  t.equal(none.json().request_id, none.headers['x-request-id']);

  for (const bad of ['gth_short', 'gth_' + 'A'.repeat(36), 'not-even-a-token']) {
    const r = await api(gw, bad, 'GET', '/v1/tokens');
    t.equal(r.status, 401, `refused: ${bad.slice(0, 8)}…`);
    t.equal(r.headers['www-authenticate'], 'Bearer realm="acme", error="invalid_token"');
    t.equal(r.json().error, 'invalid_token');
  }
  const basic = await get(gw.admin + '/v1/tokens', { authorization: 'Basic YWxpY2U6cHc=' });
  t.equal(basic.status, 401, 'a non-Bearer scheme is an invalid token');

  const forbidden = await api(gw, user, 'GET', '/v1/tokens');
  t.equal(forbidden.status, 403, 'a user-only token may not use the admin API');
  t.equal(forbidden.json().error, 'forbidden');
  t.match(forbidden.headers['www-authenticate'], /error="insufficient_scope"/);

  const disabled = await gw.mint({ developer: true });
  await gw.gateway.runtime.store.updateToken(disabled.token.id, { disabled: true });
  t.equal((await api(gw, disabled.secret, 'GET', '/v1/whoami')).status, 401, 'a disabled developer token is refused');
});

t.test('whoami, and tokens created, read, patched and deleted through the API', async (t) => {
  const { gw, dev, devId } = await setup(t);
  const who = await api(gw, dev, 'GET', '/v1/whoami');
  t.equal(who.status, 200);
  t.match(who.json(), { user: 'alice', organization: 'acme', token: { id: devId, name: 'ops', owner: 'alice', developer: true, disabled: false } });
  t.notMatch(who.text, /hash|secret/);

  const created = await api(gw, dev, 'POST', '/v1/tokens', {
    name: 'summarizer client', description: 'for the batch job', user: { deployments: ['guarded'] }, expires_at: '2099-01-01T00:00:00Z',
  });
  t.equal(created.status, 201);
  const { token, secret } = created.json<{ token: Json; secret: string }>();
  t.ok(isWellFormed(secret), 'the secret is a well-formed gth_ token');
  t.match(token, {
    name: 'summarizer client', description: 'for the batch job', owner: 'alice', user: { deployments: ['guarded'] },
    developer: false, disabled: false, expires_at: '2099-01-01T00:00:00.000Z', last_used_at: null,
  });
  t.match(token.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/, 'times are RFC 3339 UTC');
  t.notOk('hash' in token, 'the token view has no hash');
  const id = token.id as string;

  const call = (s: string) => get(gw.external + '/x', { host: hostOf('guarded'), authorization: `Bearer ${s}` });
  t.equal((await call(secret)).status, 200, 'the new token opens its Deployment');

  const list = await api(gw, dev, 'GET', '/v1/tokens');
  t.equal(list.status, 200);
  const listed = list.json<{ tokens: Json[] }>().tokens;
  t.same(listed.map((x) => x.id).sort(), [devId, id, ...listed.filter((x) => x.name === 'caller').map((x) => x.id)].sort());
  t.notOk(list.text.includes(secret), 'the list never shows a secret');
  t.notMatch(list.text, /"hash"|"secret"/);

  const one = await api(gw, dev, 'GET', `/v1/tokens/${id}`);
  t.equal(one.status, 200);
  t.same(one.json<{ token: Json }>().token, token);
  t.notOk(one.text.includes(secret));

  const disabled = await api(gw, dev, 'PATCH', `/v1/tokens/${id}`, { disabled: true });
  t.equal(disabled.status, 200);
  t.equal(disabled.json<{ token: Json }>().token.disabled, true);
  t.equal((await call(secret)).status, 401, 'disabled: refused at once in this process');

  const enabled = await api(gw, dev, 'PATCH', `/v1/tokens/${id}`, { disabled: false, name: 'renamed', description: null });
  t.match(enabled.json<{ token: Json }>().token, { disabled: false, name: 'renamed', description: '' });
  t.equal((await call(secret)).status, 200, 'enabled again with the same secret');

  const expiring = await api(gw, dev, 'PATCH', `/v1/tokens/${id}`, { expires_at: null });
  t.equal(expiring.json<{ token: Json }>().token.expires_at, null, 'expires_at: null removes the expiry');

  const deleted = await api(gw, dev, 'DELETE', `/v1/tokens/${id}`);
  t.equal(deleted.status, 204);
  t.equal(deleted.text, '');
  t.equal((await call(secret)).status, 401, 'deleted: refused at once');
  t.equal((await api(gw, dev, 'GET', `/v1/tokens/${id}`)).status, 404);
  t.equal((await api(gw, dev, 'DELETE', `/v1/tokens/${id}`)).status, 404);
  t.equal((await api(gw, dev, 'PATCH', `/v1/tokens/${id}`, { disabled: true })).status, 404);

  const devMade = await api(gw, dev, 'POST', '/v1/tokens', { name: 'second dev', developer: true });
  const devSecret = devMade.json<{ secret: string }>().secret;
  t.equal((await api(gw, devSecret, 'GET', '/v1/whoami')).json().user, 'alice', 'an API-made token belongs to its maker');

  await gw.gateway.stop(1000);
  const everything = gw.rawLog();
  t.notOk(everything.includes(secret) || everything.includes(devSecret) || everything.includes(dev), 'no secret in any log line');
  const adminLines = gw.logs.filter((l) => l.listener === 'admin');
  t.ok(adminLines.length > 10, 'one log line per admin call');
  t.ok(adminLines.every((l) => typeof l.request_id === 'string'), 'each with its request id');
  t.ok(adminLines.some((l) => l.token_id === devId && l.route === '/v1/tokens' && l.status === 201), 'and the caller\'s token id');
});

t.test('every validation error is a 400 naming the field', async (t) => {
  const { gw, dev } = await setup(t);
  const cases: { what: string; method?: string; path?: string; body: unknown; field: string }[] = [
    { what: 'no name', body: { developer: true }, field: 'name' },
    { what: 'empty name', body: { name: '  ', developer: true }, field: 'name' },
    { what: 'name too long', body: { name: 'x'.repeat(129), developer: true }, field: 'name' },
    { what: 'name with control characters', body: { name: 'a\nb', developer: true }, field: 'name' },
    { what: 'no type', body: { name: 'x' }, field: 'type' },
    { what: 'developer: false and no user type', body: { name: 'x', developer: false }, field: 'type' },
    { what: 'user type with no Deployments', body: { name: 'x', user: { deployments: [] } }, field: 'user.deployments' },
    { what: 'user type not an object', body: { name: 'x', user: 'guarded' }, field: 'user.deployments' },
    { what: 'unknown Deployment', body: { name: 'x', user: { deployments: ['guarded', 'nope'] } }, field: 'user.deployments[1]' },
    { what: 'Deployment name not a string', body: { name: 'x', user: { deployments: [7] } }, field: 'user.deployments[0]' },
    { what: 'developer not a boolean', body: { name: 'x', developer: 'yes' }, field: 'developer' },
    { what: 'bad expires_at', body: { name: 'x', developer: true, expires_at: 'next week' }, field: 'expires_at' },
    { what: 'expires_at without an offset (read as server-local time)', body: { name: 'x', developer: true, expires_at: '2099-01-01T00:00:00' }, field: 'expires_at' },
    { what: 'expires_at in the past', body: { name: 'x', developer: true, expires_at: '2001-01-01T00:00:00Z' }, field: 'expires_at' },
    { what: 'description not a string', body: { name: 'x', developer: true, description: 5 }, field: 'description' },
    { what: 'owner cannot be chosen', body: { name: 'x', developer: true, owner: 'mallory' }, field: 'owner' },
    { what: 'a body that is not an object', body: [1, 2], field: 'body' },
    { what: 'an empty body', body: '', field: 'body' },
    { what: 'a body that is not JSON', body: '{"name": ', field: 'body' },
    { what: 'patch: disabled not a boolean', method: 'PATCH', path: 'TOKEN', body: { disabled: 'no' }, field: 'disabled' },
    { what: 'patch: empty name', method: 'PATCH', path: 'TOKEN', body: { name: '' }, field: 'name' },
    { what: 'patch: bad expires_at', method: 'PATCH', path: 'TOKEN', body: { expires_at: '2030-13-45' }, field: 'expires_at' },
    { what: 'patch: unknown field', method: 'PATCH', path: 'TOKEN', body: { user: { deployments: ['*'] } }, field: 'user' },
    { what: 'deployment: bad name in the path', method: 'PUT', path: '/v1/deployments/Bad_Name', body: { access: 'public', upstreams: ['http://127.0.0.1:1'] }, field: 'name' },
    { what: 'deployment: name differs from the path', method: 'PUT', path: '/v1/deployments/d1', body: { name: 'd2', access: 'public', upstreams: ['http://127.0.0.1:1'] }, field: 'name' },
    { what: 'deployment: no access', method: 'PUT', path: '/v1/deployments/d1', body: { upstreams: ['http://127.0.0.1:1'] }, field: 'access' },
    { what: 'deployment: bad access', method: 'PUT', path: '/v1/deployments/d1', body: { access: 'open', upstreams: ['http://127.0.0.1:1'] }, field: 'access' },
    { what: 'deployment: bad protocol', method: 'PUT', path: '/v1/deployments/d1', body: { access: 'public', protocol: 'tcp', upstreams: ['http://127.0.0.1:1'] }, field: 'protocol' },
    { what: 'deployment: no upstreams', method: 'PUT', path: '/v1/deployments/d1', body: { access: 'public', upstreams: [] }, field: 'upstreams' },
    { what: 'deployment: bad upstream', method: 'PUT', path: '/v1/deployments/d1', body: { access: 'public', upstreams: ['ftp://x'] }, field: 'upstreams[0]' },
    { what: 'deployment: bad host', method: 'PUT', path: '/v1/deployments/d1', body: { access: 'public', upstreams: ['http://127.0.0.1:1'], hosts: ['a b'] }, field: 'hosts[0]' },
    { what: 'deployment: bad timeout', method: 'PUT', path: '/v1/deployments/d1', body: { access: 'public', upstreams: ['http://127.0.0.1:1'], timeouts: { response: 'soon' } }, field: 'timeouts.response' },
    { what: 'deployment: bad forward_authorization', method: 'PUT', path: '/v1/deployments/d1', body: { access: 'public', upstreams: ['http://127.0.0.1:1'], forward_authorization: 'yes' }, field: 'forward_authorization' },
    { what: 'deployment: unknown field', method: 'PUT', path: '/v1/deployments/d1', body: { access: 'public', upstreams: ['http://127.0.0.1:1'], color: 'red' }, field: 'color' },
    { what: 'deployment: empty body', method: 'PUT', path: '/v1/deployments/d1', body: '', field: 'body' },
  ];
  const target = (await api(gw, dev, 'POST', '/v1/tokens', { name: 'target', developer: true })).json<{ token: Json }>().token.id as string;
  for (const c of cases) {
    const path = c.path === 'TOKEN' ? `/v1/tokens/${target}` : c.path ?? '/v1/tokens';
    const r = await api(gw, dev, c.method ?? 'POST', path, c.body);
    t.equal(r.status, 400, `${c.what}: 400`);
    const body = r.json();
    t.equal(body.field, c.field, `${c.what}: names ${c.field}`);
    t.ok(String(body.message).startsWith(`${c.field}: `), `${c.what}: the message names it too (${String(body.message)})`);
    t.equal(body.request_id, r.headers['x-request-id']);
  }
  const tokens = (await api(gw, dev, 'GET', '/v1/tokens')).json<{ tokens: Json[] }>().tokens;
  t.same(tokens.map((x) => x.name).sort(), ['caller', 'ops', 'target'], 'nothing refused was created');
  t.equal((await api(gw, dev, 'GET', '/v1/deployments/d1')).status, 404, 'no refused Deployment was created');

  const huge = await api(gw, dev, 'POST', '/v1/tokens', { name: 'x', developer: true, description: 'y'.repeat(1024 * 1024) });
  t.equal(huge.status, 413, 'a body over 1 MiB is refused');
  t.equal(huge.json().error, 'payload_too_large');
});

t.test('unknown endpoints and methods', async (t) => {
  const { gw, dev } = await setup(t);
  const missing = await api(gw, dev, 'GET', '/v1/nothing');
  t.equal(missing.status, 404);
  t.equal(missing.json().error, 'not_found');
  const method = await api(gw, dev, 'DELETE', '/v1/tokens');
  t.equal(method.status, 405);
  t.equal(method.headers.allow, 'GET, HEAD, POST');
  t.equal((await get(gw.admin + '/healthz')).status, 200);
  t.equal((await get(gw.admin + '/readyz')).status, 200);
  t.equal((await get(gw.external + '/v1/tokens', { host: 'localhost', authorization: `Bearer ${dev}` })).status, 404, 'the API is not on the external listener');
});

t.test('Deployments: config-managed ones are 409, store-managed ones change the routes at once', async (t) => {
  const { gw, dev, up } = await setup(t);
  const list = await api(gw, dev, 'GET', '/v1/deployments');
  t.equal(list.status, 200);
  t.same(list.json<{ deployments: Json[] }>().deployments.map((d) => [d.name, d.access, d.config_managed]), [
    ['guarded', 'protected', true], ['open', 'public', true],
  ]);
  const guarded = await api(gw, dev, 'GET', '/v1/deployments/guarded');
  t.same(guarded.json(), { deployment: {
    name: 'guarded', access: 'protected', protocol: 'http', upstreams: [up.url], hosts: [], forward_authorization: false,
    timeouts: {}, limits: null, config_managed: true, default_host: hostOf('guarded'),
  } });
  for (const method of ['PUT', 'PATCH', 'DELETE']) {
    const r = await api(gw, dev, method, '/v1/deployments/guarded', { access: 'public', upstreams: [up.url] });
    t.equal(r.status, 409, `${method} on a config-managed Deployment`);
    t.equal(r.json().error, 'conflict');
  }

  const ext = (name: string) => get(gw.external + '/x', { host: hostOf(name) });
  t.equal((await ext('extra')).status, 404);
  const created = await api(gw, dev, 'PUT', '/v1/deployments/extra', {
    access: 'public', upstreams: [up.url], hosts: ['extra.example.test'], timeouts: { response: '600s' },
  });
  t.equal(created.status, 201, 'PUT creates: 201');
  t.match(created.json(), { deployment: { name: 'extra', access: 'public', timeouts: { response: '10m' }, config_managed: false } });
  t.equal((await ext('extra')).status, 200, 'routable at once');
  t.equal((await get(gw.external + '/x', { host: 'extra.example.test' })).status, 200, 'on its extra host too');

  const view = (await api(gw, dev, 'GET', '/v1/deployments/extra')).json<{ deployment: Json }>().deployment;
  const replaced = await api(gw, dev, 'PUT', '/v1/deployments/extra', view);
  t.equal(replaced.status, 200, 'PUT of what GET answered replaces: 200');
  t.same(replaced.json<{ deployment: Json }>().deployment, view, 'unchanged by the round trip');

  const token = await api(gw, dev, 'POST', '/v1/tokens', { name: 'for extra', user: { deployments: ['extra'] } });
  t.equal(token.status, 201, 'a token may name an API-created Deployment');

  const patched = await api(gw, dev, 'PATCH', '/v1/deployments/extra', { access: 'private' });
  t.equal(patched.status, 200);
  t.match(patched.json(), { deployment: { access: 'private', upstreams: [up.url], hosts: ['extra.example.test'], timeouts: { response: '10m' } } });
  t.equal((await ext('extra')).status, 404, 'private: 404 on the external listener at once');
  t.equal((await get(gw.internal + '/x', { host: hostOf('extra') })).status, 200, 'and still reachable internally');

  const alias = await api(gw, dev, 'PUT', '/v1/deployments/alias', { access: 'public', upstreams: [up.url], forwardAuthorization: true });
  t.equal(alias.json<{ deployment: Json }>().deployment.forward_authorization, true, 'the config file\'s spelling forwardAuthorization is accepted');
  const twice = await api(gw, dev, 'PATCH', '/v1/deployments/alias', { forwardAuthorization: false, forward_authorization: true });
  t.equal(twice.json().field, 'forward_authorization', 'but not both spellings at once');

  t.equal((await api(gw, dev, 'PATCH', '/v1/deployments/ghost', { access: 'public' })).status, 404);
  t.equal((await api(gw, dev, 'GET', '/v1/deployments/ghost')).status, 404);
  const removed = await api(gw, dev, 'DELETE', '/v1/deployments/extra');
  t.equal(removed.status, 204);
  t.equal((await get(gw.internal + '/x', { host: hostOf('extra') })).status, 404, 'gone at once');
  t.equal((await api(gw, dev, 'DELETE', '/v1/deployments/extra')).status, 404);
});

t.test('metrics: the families the operators need, and never a secret', async (t) => {
  const { gw, dev, user } = await setup(t);
  await get(gw.external + '/x', { host: hostOf('guarded'), authorization: `Bearer ${user}` });
  await get(gw.external + '/x', { host: hostOf('guarded'), authorization: `Bearer ${user}` });
  await get(gw.external + '/x', { host: hostOf('open') });
  const made = await api(gw, dev, 'POST', '/v1/tokens', { name: 'm', developer: true });
  const metrics = await get(gw.admin + '/metrics');
  t.equal(metrics.status, 200);
  t.match(metrics.headers['content-type'], /text\/plain/);
  const text = metrics.text;
  t.match(text, /gatehouse_requests_total\{deployment="guarded",listener="external",protocol="http",reason="token",status="200"\} 2/);
  t.match(text, /gatehouse_requests_total\{deployment="open",listener="external",protocol="http",reason="public",status="200"\} 1/);
  t.match(text, /gatehouse_request_duration_seconds_bucket\{/);
  t.match(text, /gatehouse_token_cache_hits_total [1-9]/);
  t.match(text, /gatehouse_token_cache_misses_total [1-9]/);
  t.match(text, /gatehouse_token_cache_stale_total 0/);
  t.match(text, /gatehouse_store_errors_total 0/);
  t.match(text, /# TYPE gatehouse_propagation_events_total counter/);
  t.match(text, /gatehouse_admin_requests_total\{method="POST",route="\/v1\/tokens",status="201"\} 1/);
  t.notOk(text.includes(made.json<{ secret: string }>().secret) || text.includes(dev) || text.includes(user), 'no secret in the metrics');
});
