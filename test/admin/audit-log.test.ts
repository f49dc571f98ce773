import t from 'tap';
import { loadConfig } from '../../gateway/config/load';
import { startGateway, writeConfig } from '../helpers/gateway';
import { adminCall } from '../helpers/ops';
import { startUpstream } from '../helpers/upstream';

interface Event {
  id: string; time: string; action: string; target: string;
  actor: { token_id: string | null; user: string }; request_id: string | null; client_address: string | null;
}

t.test('every change through the API is an audit event, newest first, paged with a cursor, never with a secret', async (t) => {
  const up = await startUpstream(t);
  const gw = await startGateway(t, {
    deployments: [{ name: 'guarded', access: 'protected', upstreams: [up.url] }],
  });
  const dev = await gw.mint({ developer: true, owner: 'alice' });
  const api = (method: string, path: string, body?: unknown) => adminCall(gw.admin, dev.secret, method, path, body);
  const startedAt = Date.now();

  const created = await api('POST', '/v1/tokens', { name: 'ci', user: { deployments: ['guarded'] } });
  const id = created.json<{ token: { id: string } }>().token.id;
  const secrets = [created.json<{ secret: string }>().secret];
  t.equal((await api('PATCH', `/v1/tokens/${id}`, { name: 'ci-2' })).status, 200);
  const rotated = await api('POST', `/v1/tokens/${id}/rotate`, { overlap: '1m' });
  secrets.push(rotated.json<{ secret: string }>().secret);
  t.equal((await api('PUT', '/v1/deployments/dyn', { access: 'public', upstreams: [up.url] })).status, 201);
  t.equal((await api('PATCH', '/v1/deployments/dyn', { access: 'private' })).status, 200);
  t.equal((await api('DELETE', '/v1/deployments/dyn')).status, 204);
  t.equal((await api('DELETE', `/v1/tokens/${id}`)).status, 204);
  t.equal((await api('GET', '/v1/whoami')).status, 200, 'reads are not changes');
  t.equal((await api('PATCH', '/v1/tokens/tok_nope', { name: 'x' })).status, 404, 'a refused change is not an event');

  const all = await api('GET', '/v1/audit');
  t.equal(all.status, 200);
  const { events, next } = all.json<{ events: Event[]; next: string | null }>();
  t.equal(next, null, 'one page holds them all');
  t.same(events.map((e) => [e.action, e.target]), [
    ['token.delete', id], ['deployment.delete', 'dyn'], ['deployment.patch', 'dyn'], ['deployment.put', 'dyn'],
    ['token.rotate', id], ['token.update', id], ['token.create', id],
  ], 'newest first, naming what changed');
  for (const e of events) {
    t.same(Object.keys(e).sort(), ['action', 'actor', 'client_address', 'id', 'request_id', 'target', 'time']);
    t.same(e.actor, { token_id: dev.token.id, user: 'alice' }, `${e.action}: the caller`);
    t.equal(e.client_address, '127.0.0.1');
    t.ok(Date.parse(e.time) >= startedAt - 1_000 && Date.parse(e.time) <= Date.now(), 'an RFC 3339 time');
    t.match(e.request_id, /^[0-9a-f-]{36}$/);
  }
  const createLine = gw.logs.find((l) => l.msg === 'admin request' && l.method === 'POST' && l.path === '/v1/tokens');
  t.equal(events[6].request_id, createLine?.request_id, 'the request id of the call that made the change');
  const text = JSON.stringify(events) + gw.rawLog();
  for (const secret of secrets) t.notOk(text.includes(secret), 'no secret in an event or a log line');
  t.notOk(text.includes(dev.secret));

  const logged = gw.logs.filter((l) => l.msg === 'audit').map((l) => (l.audit as Event).id);
  t.same(logged, events.map((e) => e.id).reverse(), 'each event is written as a log line as well');

  const page1 = (await api('GET', '/v1/audit?limit=3')).json<{ events: Event[]; next: string }>();
  t.same(page1.events.map((e) => e.id), events.slice(0, 3).map((e) => e.id));
  t.equal(page1.next, events[2].id);
  const page2 = (await api('GET', `/v1/audit?limit=3&before=${page1.next}`)).json<{ events: Event[]; next: string }>();
  t.same(page2.events.map((e) => e.id), events.slice(3, 6).map((e) => e.id));
  const page3 = (await api('GET', `/v1/audit?limit=3&before=${page2.next}`)).json<{ events: Event[]; next: string | null }>();
  t.same(page3.events.map((e) => e.id), [events[6].id]);
  t.equal(page3.next, null, 'the last page says so');

  for (const query of ['before=garbage', 'before=aud_', `before=${events[0].id}x`, 'before=', 'limit=0', 'limit=-1', 'limit=1001', 'limit=2.5', 'limit=ten', 'limit=']) {
    const res = await api('GET', `/v1/audit?${query}`);
    t.equal(res.status, 400, query);
    t.equal(res.json().error, 'invalid_field');
    t.equal(res.json().field, query.split('=')[0], `${query}: the body names the field`);
  }
  t.equal((await adminCall(gw.admin, 'gth_nope', 'GET', '/v1/audit')).status, 401);
});

t.test('audit.retention: default 90d; bounded; named in the error', async (t) => {
  const config = (extra: Record<string, unknown>) => loadConfig(writeConfig({ deployments: [], extra }).file);
  t.equal(config({}).audit.retention, 90 * 86_400_000);
  t.equal(config({ audit: { retention: '365d' } }).audit.retention, 365 * 86_400_000, 'longer than a timer may run: only the store keeps it');
  t.throws(() => config({ audit: { retention: '1h' } }), /audit\.retention: must be a duration from 1d to 3650d/);
  t.throws(() => config({ audit: { retention: 'forever' } }), /audit\.retention/);
  t.throws(() => config({ audit: { keep: '1d' } }), /audit\.keep/);
});
