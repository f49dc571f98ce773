import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { runCli } from '../helpers/cli';
import { hostOf, startGateway } from '../helpers/gateway';
import { get } from '../helpers/http';
import { startUpstream } from '../helpers/upstream';

t.test('the CLI through the admin API of a logged-in context', async (t) => {
  const up = await startUpstream(t);
  const gw = await startGateway(t, {
    deployments: [
      { name: 'guarded', access: 'protected', upstreams: [up.url] },
      { name: 'open', access: 'public', upstreams: [up.url] },
    ],
  });
  const dev = await gw.mint({ developer: true, owner: 'alice' });
  const userOnly = await gw.mint({ user: ['guarded'], owner: 'bob' });
  const home = mkdtempSync(join(tmpdir(), 'gatehouse-home-'));
  t.teardown(() => rmSync(home, { recursive: true, force: true }));
  const env = { GATEHOUSE_HOME: join(home, 'gh') };
  const cli = (...args: string[]) => runCli(args, env);

  // Token usage errors (unknown and missing flags) are covered in token-config.test.ts; these are the API side.
  const [help, subHelp, usage, noContext, userLogin, badLogin] = await Promise.all([
    cli('--help'), cli('deployment', 'list', '--help'), cli('deployment', 'apply', 'x'), cli('current-context'),
    cli('login', '--api-token', userOnly.secret, '--endpoint', gw.admin),
    cli('login', '--api-token', 'gth_nope', '--endpoint', gw.admin),
  ]);
  t.equal(help.code, 0);
  t.match(help.stdout, /login --api-token TOKEN --endpoint URL/);
  t.match(help.stdout, /deployment list\|get\|apply\|delete/);
  t.equal(subHelp.code, 0);
  t.match(subHelp.stdout, /^Usage: gatehouse deployment list \[--json\]/);
  t.equal(usage.code, 2, 'apply with nothing to apply: usage error');
  t.match(usage.stderr, /nothing to apply/);
  t.equal(noContext.code, 1, 'current-context before login fails');
  t.match(noContext.stderr, /no current context/);
  t.equal(userLogin.code, 1, 'login with a user-only token is refused');
  t.match(userLogin.stderr, /login failed: .*developer.*\(403 forbidden\)/);
  t.equal(badLogin.code, 1, 'login with a bad token is refused');
  t.match(badLogin.stderr, /\(401 invalid_token\)/);
  t.equal(userLogin.stdout + badLogin.stdout, '', 'nothing on stdout when refused');
  t.throws(() => statSync(join(home, 'gh', 'contexts.json')), 'no refused login was saved');

  const login = await cli('login', '--api-token', dev.secret, '--endpoint', gw.admin + '/');
  t.equal(login.code, 0, login.stderr);
  t.equal(login.stdout, 'Successfully logged in as user "alice" in organization "acme".\n');
  const file = join(home, 'gh', 'contexts.json');
  t.equal(statSync(file).mode & 0o777, 0o600, 'the contexts file is mode 0600');
  t.equal(statSync(join(home, 'gh')).mode & 0o777, 0o700, 'in a 0700 folder');
  t.ok(readFileSync(file, 'utf8').includes(dev.secret));

  const [current, created, refused, ownerFlag, listed, applied, managed] = await Promise.all([
    cli('current-context'),
    cli('token', 'create', '--name', 'from cli', '--description', 'd', '--user-deployment', 'guarded', '--expires-in', '30d', '--json'),
    cli('token', 'create', '--name', 'x', '--user-deployment', 'nope'),
    cli('token', 'create', '--name', 'x', '--developer', '--owner', 'bob'),
    cli('deployment', 'list'),
    cli('deployment', 'apply', 'extra', '--access', 'public', '--upstream', up.url, '--host', 'extra.example.test', '--json'),
    cli('deployment', 'apply', 'guarded', '--access', 'public'),
  ]);
  t.equal(current.code, 0);
  t.same(JSON.parse(current.stdout), { name: 'default', endpoint: gw.admin, api_token: dev.secret }, 'current-context JSON');
  t.equal(created.code, 0, created.stderr);
  const made = JSON.parse(created.stdout) as { token: Record<string, unknown>; secret: string };
  t.match(made.token, { name: 'from cli', description: 'd', owner: 'alice', user: { deployments: ['guarded'] }, developer: false });
  t.ok(Date.parse(String(made.token.expires_at)) > Date.now() + 29 * 86_400_000, '--expires-in 30d');
  t.equal(refused.code, 1, 'a refused token: exit 1');
  t.match(refused.stderr, /user\.deployments\[0\]: unknown Deployment "nope" \(400 invalid_field\)/);
  t.equal(ownerFlag.code, 2, '--owner without --config is a usage error');
  t.equal(listed.code, 0);
  t.match(listed.stdout, /^NAME +ACCESS +PROTOCOL +UPSTREAMS +HOSTS +MANAGED BY\n/);
  t.match(listed.stdout, /\nguarded +protected +http .* config\n/);
  t.equal(applied.code, 0, applied.stderr);
  t.match(JSON.parse(applied.stdout), { created: true, deployment: { name: 'extra', access: 'public', hosts: ['extra.example.test'], config_managed: false } });
  t.equal(managed.code, 1, 'a config-managed Deployment cannot be changed');
  t.match(managed.stderr, /managed by the config file.*\(409 conflict\)/);

  const call = (s: string) => get(gw.external + '/x', { host: hostOf('guarded'), authorization: `Bearer ${s}` });
  t.equal((await call(made.secret)).status, 200, 'the CLI-made token works');
  t.equal((await get(gw.external + '/x', { host: 'extra.example.test' })).status, 200, 'the applied Deployment is routed');

  const tokens = await cli('token', 'list');
  const [deleted, privatized] = await Promise.all([
    cli('token', 'delete', String(made.token.id)),
    cli('deployment', 'apply', 'extra', '--access', 'private'),
  ]);
  t.equal(tokens.code, 0);
  t.match(tokens.stdout, /^ID +NAME +OWNER +TYPES +DEPLOYMENTS +CREATED +LAST USED +EXPIRES +STATUS +LIMITS\n/);
  t.match(tokens.stdout, /\n\S+ +from cli +alice +user +guarded /, 'a row per token');
  t.notOk(tokens.stdout.includes(made.secret), 'no secret in the list');
  t.equal(deleted.code, 0, deleted.stderr);
  t.equal(deleted.stdout, `Deleted token ${String(made.token.id)}.\n`);
  t.equal(privatized.code, 0, privatized.stderr);
  t.equal(privatized.stdout, 'Updated Deployment "extra" (private, http).\n');
  t.equal((await call(made.secret)).status, 401, 'the deleted token is refused');
  t.equal((await get(gw.external + '/x', { host: 'extra.example.test' })).status, 404, 'the private Deployment is hidden');

  const [shownExtra, removed] = [await cli('deployment', 'get', 'extra'), await cli('deployment', 'delete', 'extra')];
  t.match(shownExtra.stdout, /Access: +private\n/);
  t.match(shownExtra.stdout, /Managed by: +store \(API\)/);
  t.equal(removed.code, 0);
  t.equal((await get(gw.internal + '/x', { host: 'extra.example.test' })).status, 404, 'deleted');
});
