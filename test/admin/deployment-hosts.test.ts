import t from 'tap';
import { storeBackend } from '../../gateway/cli/store-backend';
import { startGateway, hostOf } from '../helpers/gateway';
import { adminCall } from '../helpers/ops';

const UP = 'http://127.0.0.1:1';

t.test('the admin API refuses a Deployment whose hosts another Deployment already answers for', async (t) => {
  const gw = await startGateway(t, {
    deployments: [{ name: 'guarded', access: 'protected', upstreams: [UP], hosts: ['taken.acme.gw.test'] }],
  });
  const dev = (await gw.mint({ developer: true })).secret;
  const call = (method: string, name: string, body: unknown) => adminCall(gw.admin, dev, method, `/v1/deployments/${name}`, body);

  const stolen = await call('PUT', 'thief', { access: 'public', upstreams: [UP], hosts: [hostOf('guarded')] });
  t.equal(stolen.status, 400, "another Deployment's default host");
  t.match(stolen.json(), { error: 'invalid_field', field: 'hosts[0]', message: `hosts[0]: host "${hostOf('guarded')}" is already used by Deployment "guarded"` });

  const shadowed = await call('PUT', 'taken', { access: 'public', upstreams: [UP] });
  t.equal(shadowed.status, 400, "a name whose default host is another Deployment's extra host");
  t.match(shadowed.json(), { field: 'name' });

  t.equal((await call('PUT', 'first', { access: 'public', upstreams: [UP], hosts: ['shared.example.com'] })).status, 201);
  const second = await call('PUT', 'second', { access: 'public', upstreams: [UP], hosts: ['other.example.com', 'Shared.Example.com'] });
  t.equal(second.status, 400, 'a host a store-managed Deployment has, in any case');
  t.match(second.json(), { field: 'hosts[1]' });
  t.equal((await call('PUT', 'second', { access: 'public', upstreams: [UP] })).status, 201);
  t.equal((await call('PATCH', 'second', { hosts: ['shared.example.com'] })).status, 400, 'PATCH too');
  t.equal((await call('PATCH', 'first', { access: 'private' })).status, 200, 'a Deployment keeps its own hosts');
  t.equal((await call('PUT', 'first', { access: 'public', upstreams: [UP], hosts: ['shared.example.com'] })).status, 200);

  const names = (await adminCall(gw.admin, dev, 'GET', '/v1/deployments')).json<{ deployments: { name: string }[] }>().deployments.map((d) => d.name);
  t.same(names, ['first', 'guarded', 'second'], 'nothing refused was stored');
});

t.test('so does the CLI with --config, on the store directly', async (t) => {
  const gw = await startGateway(t, {
    deployments: [{ name: 'guarded', access: 'protected', upstreams: [UP], hosts: ['taken.acme.gw.test'] }],
  });
  const backend = await storeBackend(gw.file);
  t.teardown(() => backend.close());
  await t.rejects(backend.applyDeployment('thief', { access: 'public', upstreams: [UP], hosts: [hostOf('guarded')] }),
    { name: 'CommandError', message: `hosts[0]: host "${hostOf('guarded')}" is already used by Deployment "guarded"` });
  await t.rejects(backend.applyDeployment('taken', { access: 'public', upstreams: [UP] }), { name: 'CommandError', message: /^name: its default host/ });
  t.match(await backend.applyDeployment('first', { access: 'public', upstreams: [UP], hosts: ['shared.example.com'] }), { created: true });
  await t.rejects(backend.applyDeployment('second', { access: 'public', upstreams: [UP], hosts: ['shared.example.com'] }), { name: 'CommandError' });
  t.match(await backend.applyDeployment('first', { access: 'private' }), { created: false }, 'a Deployment keeps its own hosts');
});
