import t from 'tap';
import { adminHostMatcher } from '../../gateway/admin/admin-hosts';
import { startGateway } from '../helpers/gateway';
import { get } from '../helpers/http';
import { adminCall } from '../helpers/ops';
import { startRedis } from '../helpers/redis';

t.test('the admin listener answers only to its own names (DNS rebinding)', async (t) => {
  const gw = await startGateway(t, { deployments: [] });
  const port = gw.adminPort;
  for (const path of ['/metrics', '/healthz', '/v1/whoami', '/console']) {
    const evil = await get(`${gw.admin}${path}`, { host: `rebind.evil.example:${port}` });
    t.equal(evil.status, 421, `${path} for another name: 421`);
    t.equal(evil.headers['x-content-type-options'], 'nosniff');
    t.notMatch(evil.text, /gatehouse_/, 'and no metrics');
  }
  t.equal((await get(`${gw.admin}/metrics`, { host: `127.0.0.1:${port}` })).status, 200, 'its own address');
  t.equal((await get(`${gw.admin}/metrics`, { host: `LOCALHOST:${port}` })).status, 200, 'localhost, for a loopback listener');

  const named = await startGateway(t, {
    deployments: [],
    extra: { listeners: { external: [{ address: '127.0.0.1:0' }], internal: [{ address: '127.0.0.1:0' }], admin: [{ address: '127.0.0.1:0', allowedHosts: ['gatehouse-admin.ops.svc'] }] } },
  });
  t.equal((await get(`${named.admin}/healthz`, { host: `gatehouse-admin.ops.svc:${named.adminPort}` })).status, 200, 'allowedHosts: a listed name');
  t.equal((await get(`${named.admin}/healthz`, { host: `127.0.0.1:${named.adminPort}` })).status, 421, 'allowedHosts replaces the default');
});

t.test('default Host rules by listener address', async (t) => {
  const at = (host: string) => adminHostMatcher({ address: `${host}:9090`, host, port: 9090 });
  t.ok(at('0.0.0.0')('10.1.2.3:9090'), 'wildcard: any IP address (a pod IP probe)');
  t.ok(at('0.0.0.0')('[fd00::1]:9090'));
  t.ok(at('0.0.0.0')('localhost'));
  t.notOk(at('0.0.0.0')('attacker.example:9090'), 'wildcard: but no name');
  t.ok(at('::1')('[::1]:9090'));
  t.ok(at('::1')('localhost:9090'));
  t.notOk(at('10.0.0.5')('localhost:9090'), 'localhost only for a loopback listener');
  t.ok(at('10.0.0.5')('10.0.0.5'));
  t.notOk(at('10.0.0.5')('10.0.0.6:9090'));
});

t.test('/healthz, /readyz and /metrics answer GET and HEAD only', async (t) => {
  const gw = await startGateway(t, { deployments: [] });
  for (const path of ['/healthz', '/readyz', '/metrics']) {
    for (const method of ['POST', 'PUT', 'DELETE']) {
      const r = await get(gw.admin + path, {}, { method, body: method === 'DELETE' ? undefined : '{}' });
      t.equal(r.status, 405, `${method} ${path}: 405`);
      t.equal(r.headers.allow, 'GET, HEAD');
    }
    t.equal((await get(gw.admin + path, {}, { method: 'HEAD' })).status, 200, `HEAD ${path}: 200`);
  }
});

t.test('a store that refuses writes (Redis OOM) gives 503 with Retry-After, not 500', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const gw = await startGateway(t, { deployments: [], store: { driver: 'redis', url: redis.url } });
  const dev = await gw.mint({ developer: true });
  await redis.command('config', 'set', 'maxmemory-policy', 'noeviction');
  await redis.command('config', 'set', 'maxmemory', '1');
  const r = await adminCall(gw.admin, dev.secret, 'POST', '/v1/tokens', { name: 'more', developer: true });
  await redis.command('config', 'set', 'maxmemory', '0');
  t.equal(r.status, 503, r.text);
  t.equal(r.json().error, 'store_unavailable');
  t.ok(Number(r.headers['retry-after']) > 0, 'with Retry-After');
});
