import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { runCli } from '../helpers/cli';
import { startGateway } from '../helpers/gateway';
import { startUpstream } from '../helpers/upstream';

type Json = Record<string, unknown>;

t.test('token create --rate --concurrent and token update, through the API and with --config', async (t) => {
  const up = await startUpstream(t);
  const gw = await startGateway(t, { deployments: [{ name: 'llm', access: 'protected', upstreams: [up.url] }] });
  const dev = await gw.mint({ developer: true, owner: 'alice' });
  const home = mkdtempSync(join(tmpdir(), 'gatehouse-home-'));
  t.teardown(() => rmSync(home, { recursive: true, force: true }));
  const cli = (...args: string[]) => runCli(args, { GATEHOUSE_HOME: join(home, 'gh') });
  t.equal((await cli('login', '--api-token', dev.secret, '--endpoint', gw.admin)).code, 0);

  const [created, bad, perHour] = await Promise.all([
    cli('token', 'create', '--name', 'n', '--user-deployment', 'llm', '--rate', '600/m', '--concurrent', '4', '--json'),
    cli('token', 'create', '--name', 'n', '--developer', '--rate', 'fast'),
    cli('token', 'create', '--name', 'n', '--developer', '--rate', '100/h', '--config', gw.file),
  ]);
  t.equal(created.code, 0, created.stderr);
  const token = (JSON.parse(created.stdout) as { token: Json }).token;
  t.same(token.limits, { requests_per_minute: 600, concurrent: 4 });
  t.equal(bad.code, 2, 'a malformed --rate is a usage error');
  t.match(bad.stderr, /--rate must be like 600\/m/);
  t.equal(perHour.code, 2, 'a rate that is no whole number per minute: usage error');

  const [updated, missing] = await Promise.all([
    cli('token', 'update', String(token.id), '--rate', 'none', '--json'),
    cli('token', 'update', 'tok_nope', '--rate', '1/m'),
  ]);
  t.equal(missing.code, 1, 'an unknown token: 1');
  t.equal(updated.code, 0, updated.stderr);
  t.same((JSON.parse(updated.stdout) as { token: Json }).token.limits, { requests_per_minute: null, concurrent: 4 }, 'the limit not named is kept');
  t.same((await gw.gateway.runtime.store.getToken(String(token.id)))?.limits, { concurrent: 4 }, 'PATCHed through the API');

  const list = await cli('token', 'list');
  t.match(list.stdout, /LIMITS/);
  t.match(list.stdout, /4 concurrent/);
  const direct = await cli('token', 'update', String(token.id), '--concurrent', 'none', '--rate', '10/s', '--config', gw.file);
  t.equal(direct.code, 0, direct.stderr);
  t.match(direct.stdout, /limits 600\/m\./);
});
