import t from 'tap';
import { startGateway, type Teardown, type TestGateway } from '../helpers/gateway';
import { get, type Reply } from '../helpers/http';

function api(gw: TestGateway, token: string | undefined, method: string, path: string, body?: unknown, extra: Record<string, string> = {}): Promise<Reply> {
  const headers: Record<string, string> = { ...extra };
  if (token !== undefined) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  return get(gw.admin + path, headers, { method, body: body === undefined ? undefined : JSON.stringify(body) });
}

async function setup(t: Teardown) {
  const gw = await startGateway(t, { deployments: [] });
  const dev = await gw.mint({ name: 'ops', developer: true, owner: 'alice' });
  return { gw, dev: dev.secret, devId: dev.token.id };
}

t.test('every admin listener answer forbids framing and content sniffing', async (t) => {
  const { gw, dev } = await setup(t);
  const created = await api(gw, dev, 'POST', '/v1/tokens', { name: 'victim', developer: true });
  t.equal(created.status, 201);
  const id = created.json<{ token: { id: string } }>().token.id;
  const answers: [string, Reply][] = [
    ['201 with a secret', created],
    ['200', await api(gw, dev, 'GET', '/v1/tokens')],
    ['204', await api(gw, dev, 'DELETE', `/v1/tokens/${id}`)],
    ['401', await api(gw, undefined, 'GET', '/v1/whoami')],
    ['404 echoing the path', await api(gw, dev, 'GET', '/v1/%3Cimg%20src=x%3E')],
    ['405', await api(gw, dev, 'DELETE', '/v1/tokens')],
    ['413', await api(gw, dev, 'POST', '/v1/tokens', { name: 'x', description: 'y'.repeat(1024 * 1024) })],
    ['/healthz', await get(gw.admin + '/healthz')],
    ['/metrics', await get(gw.admin + '/metrics')],
    ['404 outside /v1/', await get(gw.admin + '/%3Cscript%3E')],
  ];
  for (const [what, r] of answers) {
    t.equal(r.headers['x-content-type-options'], 'nosniff', `${what}: nosniff`);
    t.equal(r.headers['x-frame-options'], 'DENY', `${what}: X-Frame-Options`);
    t.match(r.headers['content-security-policy'], /frame-ancestors 'none'/, `${what}: frame-ancestors`);
  }
  t.equal(created.headers['cache-control'], 'no-store', 'the answer with the secret is never cached');
});

t.test('HEAD works wherever GET does; OPTIONS and cross-origin reads get no CORS grant', async (t) => {
  const { gw, dev, devId } = await setup(t);
  for (const path of ['/v1/whoami', '/v1/tokens', `/v1/tokens/${devId}`, '/v1/deployments']) {
    const full = await api(gw, dev, 'GET', path);
    const head = await api(gw, dev, 'HEAD', path);
    t.equal(head.status, 200, `HEAD ${path}`);
    t.equal(head.text, '', `HEAD ${path}: no body`);
    t.equal(head.headers['content-type'], 'application/json');
    t.equal(head.headers['content-length'], full.headers['content-length'], `HEAD ${path}: the GET's length`);
  }
  t.equal((await api(gw, undefined, 'HEAD', '/v1/tokens')).status, 401, 'HEAD needs a token too');
  const notGet = await api(gw, dev, 'DELETE', '/v1/tokens');
  t.equal(notGet.headers.allow, 'GET, HEAD, POST', 'Allow names HEAD');
  t.equal((await api(gw, dev, 'DELETE', '/v1/whoami')).headers.allow, 'GET, HEAD');

  const origin = { origin: 'http://evil.example' };
  const preflight = await api(gw, undefined, 'OPTIONS', '/v1/tokens', undefined, {
    ...origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type',
  });
  t.ok(preflight.status >= 400, `the preflight fails (${preflight.status})`);
  const read = await api(gw, dev, 'GET', '/v1/tokens', undefined, origin);
  for (const r of [preflight, read]) {
    t.same(Object.keys(r.headers).filter((h) => h.startsWith('access-control-')), [], 'no Access-Control-* header');
  }
});

t.test('a developer token disabled or deleted mid-session is refused at its next call', async (t) => {
  const { gw, dev } = await setup(t);
  for (const change of ['disable', 'delete'] as const) {
    const other = await api(gw, dev, 'POST', '/v1/tokens', { name: `session-${change}`, developer: true });
    const { secret, token } = other.json<{ secret: string; token: { id: string } }>();
    t.equal((await api(gw, secret, 'GET', '/v1/tokens')).status, 200, `${change}: works (and is cached)`);
    const done = change === 'disable'
      ? await api(gw, dev, 'PATCH', `/v1/tokens/${token.id}`, { disabled: true })
      : await api(gw, dev, 'DELETE', `/v1/tokens/${token.id}`);
    t.ok(done.status === 200 || done.status === 204);
    const after = await api(gw, secret, 'POST', '/v1/tokens', { name: 'sneaky', developer: true });
    t.equal(after.status, 401, `${change}d: the next call is refused`);
    t.equal(after.json().error, 'invalid_token');
  }
  const self = await api(gw, dev, 'PATCH', `/v1/tokens/${(await api(gw, dev, 'GET', '/v1/whoami')).json<{ token: { id: string } }>().token.id}`, { disabled: true });
  t.equal(self.status, 200, 'a token may disable itself');
  t.equal((await api(gw, dev, 'GET', '/v1/whoami')).status, 401, 'and is refused from then on');
  const names = (await gw.gateway.runtime.store.listTokens()).map((x) => x.name);
  t.notOk(names.includes('sneaky'), 'nothing was created by a refused token');
});
