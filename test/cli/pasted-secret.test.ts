import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { runCli } from '../helpers/cli';
import { startGateway } from '../helpers/gateway';

t.test('a secret pasted where an id goes is never echoed, and is named for what it is', async (t) => {
  const gw = await startGateway(t, { deployments: [] });
  const { secret } = await gw.mint({ developer: true });
  const home = mkdtempSync(join(tmpdir(), 'gatehouse-home-'));
  t.teardown(() => rmSync(home, { recursive: true, force: true }));
  const env = { GATEHOUSE_HOME: home };

  const [withConfig, viaApi, extra, deployment, rotate, update, disable, enable] = await Promise.all([
    runCli(['token', 'delete', secret, '--config', gw.file], env),
    runCli(['token', 'delete', secret], env),
    runCli(['token', 'list', secret, '--config', gw.file], env),
    runCli(['deployment', 'get', secret, '--config', gw.file], env),
    runCli(['token', 'rotate', secret, '--config', gw.file], env),
    runCli(['token', 'update', secret, '--rate', '60/m', '--config', gw.file], env),
    runCli(['token', 'disable', secret, '--config', gw.file], env),
    runCli(['token', 'enable', secret], env),
  ]);
  for (const [what, r] of [
    ['token delete --config', withConfig], ['token delete (API)', viaApi], ['token rotate', rotate],
    ['token update', update], ['token disable', disable], ['token enable (API)', enable],
  ] as const) {
    t.equal(r.code, 1, `${what}: refused`);
    t.match(r.stderr, /looks like a token secret, not a token id/, `${what}: says why`);
    t.notMatch(r.stderr + r.stdout, secret.slice(4), `${what}: the secret is not echoed`);
  }
  for (const [what, r] of [['an unexpected argument', extra], ['an unknown Deployment', deployment]] as const) {
    t.not(r.code, 0, `${what}: an error`);
    t.notMatch(r.stderr + r.stdout, secret.slice(4), `${what}: the secret is not echoed`);
  }
  t.equal((await fetch(`${gw.admin}/v1/whoami`, { headers: { authorization: `Bearer ${secret}` } })).status, 200, 'and the token was not touched');
});
