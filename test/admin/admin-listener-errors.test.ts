import t from 'tap';
import { startGateway } from '../helpers/gateway';
import { get } from '../helpers/http';

t.test('errors outside /v1/ on the admin listener have the same JSON body as the API', async (t) => {
  const gw = await startGateway(t, { deployments: [] });
  for (const path of ['/nope', '/v1', '/metricsx']) {
    const r = await get(gw.admin + path, { 'x-request-id': 'ops-probe-1' });
    t.equal(r.status, 404, path);
    t.same(Object.keys(r.json()).sort(), ['error', 'message', 'request_id'], `${path}: {error, message, request_id}`);
    t.match(r.json(), { error: 'not_found', request_id: 'ops-probe-1' }, `${path}: the request id given`);
    t.equal(r.headers['x-request-id'], 'ops-probe-1', `${path}: and in the header`);
  }
});
