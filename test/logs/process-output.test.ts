import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { generateSecret } from '../../gateway/auth/token-format';
import { runCli } from '../helpers/cli';
import { hostOf, spawnGateway, writeConfig } from '../helpers/gateway';
import { get } from '../helpers/http';
import { h2Request } from '../helpers/raw-http';
import { refusingUrl, startUpstream } from '../helpers/upstream';

const SECRET = /gth_[0-9A-Za-z]{36}/g;

t.test('a real gateway process and the CLI never print a secret they were not asked for', async (t) => {
  const up = await startUpstream(t);
  const dead = await refusingUrl();
  const { file } = writeConfig({
    deployments: [
      { name: 'guarded', access: 'protected', upstreams: [up.url] },
      { name: 'dead', access: 'protected', upstreams: [dead], forwardAuthorization: true },
    ],
  });
  const gw = await spawnGateway(t, file);
  const home = mkdtempSync(join(tmpdir(), 'gatehouse-home-'));
  const created = await runCli(['token', 'create', '--name', 'dev', '--developer', '--user-deployment', '*', '--config', file], { GATEHOUSE_HOME: home });
  t.equal(created.code, 0, created.stderr);
  const secret = (created.stdout.match(SECRET) ?? [''])[0];
  const unknown = generateSecret();
  const listed = await runCli(['token', 'list', '--config', file], { GATEHOUSE_HOME: home });
  const refused = await runCli(['login', '--api-token', unknown, '--endpoint', `http://127.0.0.1:${gw.ports.admin}`], { GATEHOUSE_HOME: home });
  const unreachable = await runCli(['login', '--api-token', secret, '--endpoint', dead], { GATEHOUSE_HOME: home });
  t.equal(refused.code, 1, 'an unknown token is refused');
  t.equal(unreachable.code, 1, 'an unreachable endpoint fails');

  const external = `http://127.0.0.1:${gw.ports.external}`;
  for (const s of [secret, unknown]) {
    await get(`${external}/x?access_token=${s}`, { host: hostOf('guarded'), authorization: `Bearer ${s}` });
    await get(`${external}/x`, { host: hostOf('dead'), authorization: `bearer ${s}` });
    await h2Request(external, { ':authority': hostOf('guarded'), ':path': `/y?t=${s}`, authorization: `Bearer ${s}` });
    await get(`http://127.0.0.1:${gw.ports.admin}/v1/whoami?k=${s}`, { authorization: `Bearer ${s}` });
  }
  t.equal(await gw.signal('SIGTERM'), 0, 'drains and exits 0');

  const printed = [gw.output(), listed.stdout, listed.stderr, refused.stdout, refused.stderr, unreachable.stdout, unreachable.stderr].join('\n');
  t.match(gw.output(), /"msg":"request"/, 'request lines were written');
  for (const s of [secret, unknown]) t.notOk(printed.includes(s.slice(4, 30)), `no trace of ${s.slice(0, 8)}…`);
  t.notMatch(printed, /bearer\s/i, 'no Authorization value');
});
