import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { runCli } from '../helpers/cli';
import { hostOf, startGateway } from '../helpers/gateway';
import { get, type Reply } from '../helpers/http';
import { within } from '../helpers/ops';
import { startUpstream } from '../helpers/upstream';

t.test('the CLI with --config acts on the store directly, while the gateway runs', async (t) => {
  const up = await startUpstream(t);
  const gw = await startGateway(t, {
    deployments: [{ name: 'guarded', access: 'protected', upstreams: [up.url] }],
  });
  const home = mkdtempSync(join(tmpdir(), 'gatehouse-home-'));
  t.teardown(() => rmSync(home, { recursive: true, force: true }));
  const env = { GATEHOUSE_HOME: home };
  const cli = (...args: string[]) => runCli(args, env);
  const config = ['--config', gw.file];

  const [first, user, applied, managed, brokenConfig] = await Promise.all([
    cli('token', 'create', '--name', 'first admin', '--developer', '--owner', 'root', '--json', ...config),
    cli('token', 'create', '--name', 'caller', '--user-deployment', 'guarded', ...config),
    cli('deployment', 'apply', 'extra', '--access', 'public', '--upstream', up.url, ...config),
    cli('deployment', 'apply', 'guarded', '--access', 'public', ...config),
    cli('token', 'list', '--config', join(home, 'missing.yaml')),
  ]);
  t.equal(first.code, 0, first.stderr);
  const admin = JSON.parse(first.stdout) as { token: { id: string; owner: string }; secret: string };
  t.equal(admin.token.owner, 'root', '--owner sets the owner with --config');
  t.equal(user.code, 0, user.stderr);
  const secret = /Secret \(shown only this once; store it now\):\n(gth_\w+)\n/.exec(user.stdout)?.[1] ?? '';
  t.ok(secret, 'the human output shows the secret once');
  t.equal(applied.code, 0, applied.stderr);
  t.equal(applied.stdout, 'Created Deployment "extra" (public, http).\n');
  t.equal(managed.code, 1, 'a config-managed Deployment is refused');
  t.match(managed.stderr, /managed by .*gatehouse\.yaml/);
  t.equal(brokenConfig.code, 1, 'an unreadable config: exit 1');
  t.match(brokenConfig.stderr, /invalid config .*missing\.yaml/);

  const call = (s: string): Promise<Reply> => get(gw.external + '/x', { host: hostOf('guarded'), authorization: `Bearer ${s}` });
  t.equal((await call(secret)).status, 200, 'a token minted with --config works at the running gateway');
  t.not(await within(1000, async () => (await get(gw.external + '/x', { host: hostOf('extra') })).status === 200), null,
    'a Deployment applied with --config is routed within a second');
  const whoami = await get(gw.admin + '/v1/whoami', { authorization: `Bearer ${admin.secret}` });
  t.equal(whoami.json().user, 'root', 'the first developer token opens the admin API');

  const [listed, deployments] = await Promise.all([cli('token', 'list', '--json', ...config), cli('deployment', 'list', '--json', ...config)]);
  const [deleted, removed] = await Promise.all([
    cli('token', 'delete', admin.token.id, ...config),
    cli('deployment', 'delete', 'extra', ...config),
  ]);
  t.equal(listed.code, 0);
  const tokens = (JSON.parse(listed.stdout) as { tokens: { name: string }[] }).tokens;
  t.same(tokens.map((x) => x.name).sort(), ['caller', 'first admin']);
  t.notOk(listed.stdout.includes(secret) || listed.stdout.includes(admin.secret) || listed.stdout.includes('"hash"'), 'no secret or hash listed');
  t.same((JSON.parse(deployments.stdout) as { deployments: { name: string; config_managed: boolean }[] }).deployments
    .map((d) => [d.name, d.config_managed]), [['extra', false], ['guarded', true]]);
  t.equal(deleted.code, 0, deleted.stderr);
  t.equal(removed.code, 0, removed.stderr);
  t.not(await within(1000, async () => (await get(gw.admin + '/v1/whoami', { authorization: `Bearer ${admin.secret}` })).status === 401), null,
    'a token deleted with --config is refused within a second');
  t.not(await within(1000, async () => (await get(gw.external + '/x', { host: hostOf('extra') })).status === 404), null,
    'a Deployment deleted with --config is gone within a second');
});
