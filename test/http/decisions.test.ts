import t from 'tap';
import { startGateway, hostOf } from '../helpers/gateway';
import { startUpstream } from '../helpers/upstream';
import { get } from '../helpers/http';

t.test('external decisions for each access type', async (t) => {
  const up = await startUpstream(t);
  const gw = await startGateway(t, {
    deployments: [
      { name: 'open', access: 'public', upstreams: [up.url] },
      { name: 'guarded', access: 'protected', upstreams: [up.url] },
      { name: 'other', access: 'protected', upstreams: [up.url] },
      { name: 'hidden', access: 'private', upstreams: [up.url] },
    ],
  });
  const { secret } = await gw.mint({ user: ['guarded'] });
  const { secret: dev } = await gw.mint({ developer: true });

  const pub = await get(gw.external + '/x', { host: hostOf('open') });
  t.equal(pub.status, 200, 'public needs no token');

  const none = await get(gw.external + '/x', { host: hostOf('guarded') });
  t.equal(none.status, 401);
  t.equal(none.headers['www-authenticate'], 'Bearer realm="acme"');
  t.same(Object.keys(none.json()).sort(), ['error', 'message', 'request_id']);
  t.equal(none.json().request_id, none.headers['x-request-id']);

  const bad = await get(gw.external + '/x', { host: hostOf('guarded'), authorization: 'Bearer gth_nope' });
  t.equal(bad.status, 401);
  t.equal(bad.headers['www-authenticate'], 'Bearer realm="acme", error="invalid_token"');

  const ok = await get(gw.external + '/x', { host: hostOf('guarded'), authorization: `bearer ${secret}` });
  t.equal(ok.status, 200, 'scheme is case-insensitive');
  t.notOk(ok.json<{ headers: Record<string, string> }>().headers.authorization, 'Authorization is not forwarded');

  const scope = await get(gw.external + '/x', { host: hostOf('other'), authorization: `Bearer ${secret}` });
  t.equal(scope.status, 403);
  t.equal(scope.headers['www-authenticate'], 'Bearer realm="acme", error="insufficient_scope"');

  const devOnly = await get(gw.external + '/x', { host: hostOf('guarded'), authorization: `Bearer ${dev}` });
  t.equal(devOnly.status, 403, 'a developer-only token does not open protected Deployments');

  const priv = await get(gw.external + '/x', { host: hostOf('hidden') });
  const unknown = await get(gw.external + '/x', { host: 'nothing.acme.gw.test' });
  t.equal(priv.status, 404);
  t.equal(unknown.status, 404);
  t.same({ ...priv.json(), request_id: '' }, { ...unknown.json(), request_id: '' }, 'private looks exactly like unknown');
  t.notMatch(priv.text, /hidden/);

  const internal = await get(gw.internal + '/x', { host: hostOf('hidden') });
  t.equal(internal.status, 200, 'internal listener reaches private Deployments without a token');
});
