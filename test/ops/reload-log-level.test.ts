import t from 'tap';
import { startGateway, writeConfig } from '../helpers/gateway';
import { get } from '../helpers/http';

t.test('a reload applies a changed log.level', async (t) => {
  const gw = await startGateway(t, { deployments: [] });
  const adminLines = (): number => gw.logs.filter((l) => l.msg === 'admin request').length;

  await get(gw.admin + '/v1/whoami');
  t.equal(adminLines(), 1, 'at info, a refused admin call is logged');

  writeConfig({ dir: gw.dir, deployments: [], extra: { log: { level: 'warn' } } });
  await gw.gateway.reload();
  await get(gw.admin + '/v1/whoami');
  t.equal(adminLines(), 1, 'at warn, it is not');

  writeConfig({ dir: gw.dir, deployments: [], extra: { log: { level: 'info' } } });
  await gw.gateway.reload();
  await get(gw.admin + '/v1/whoami');
  t.equal(adminLines(), 2, 'back at info, it is again');
});
