import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { runCli } from '../helpers/cli';
import { hostOf, startGateway } from '../helpers/gateway';
import { get } from '../helpers/http';
import { startUpstream } from '../helpers/upstream';

t.test('token rotate and audit list, with --config (actor local) and through the admin API', async (t) => {
  const up = await startUpstream(t);
  const gw = await startGateway(t, { deployments: [{ name: 'guarded', access: 'protected', upstreams: [up.url] }] });
  const home = mkdtempSync(join(tmpdir(), 'gatehouse-home-'));
  t.teardown(() => rmSync(home, { recursive: true, force: true }));
  const cli = (...args: string[]) => runCli(args, { GATEHOUSE_HOME: home });
  const config = ['--config', gw.file];
  const call = async (secret: string): Promise<number> =>
    (await get(gw.external + '/x', { host: hostOf('guarded'), authorization: `Bearer ${secret}` })).status;

  const user = await gw.mint({ user: ['guarded'] });
  const dev = await gw.mint({ developer: true, owner: 'carol' });
  const [local, malformed, tooLong, unknown, missing] = await Promise.all([
    cli('token', 'rotate', user.token.id, '--overlap', '1m', ...config),
    cli('token', 'rotate', user.token.id, '--overlap', 'soon', ...config),
    cli('token', 'rotate', user.token.id, '--overlap', '8d', ...config),
    cli('token', 'rotate', 'tok_nope', ...config),
    cli('token', 'rotate', ...config),
  ]);
  t.equal(local.code, 0, local.stderr);
  const secret = /New secret \(shown only this once; store it now\):\n(gth_\w+)\n/.exec(local.stdout)?.[1] ?? '';
  t.ok(secret, 'the new secret, printed once');
  t.match(local.stdout, /The old secret keeps working until \d{4}-\d\d-\d\dT/);
  t.equal(await call(secret), 200, 'the new secret works at the running gateway');
  t.equal(await call(user.secret), 200, 'the old one, during the overlap');
  t.equal(malformed.code, 2, 'a malformed --overlap is a usage error');
  t.match(malformed.stderr, /--overlap: must be a duration/);
  t.equal(tooLong.code, 2);
  t.match(tooLong.stderr, /--overlap: at most 7d/);
  t.equal(unknown.code, 1);
  t.match(unknown.stderr, /no token with id "tok_nope"/);
  t.equal(missing.code, 2);

  for (const args of [
    ['deployment', 'apply', 'extra', '--access', 'public', '--upstream', up.url],
    ['deployment', 'apply', 'extra', '--access', 'private'],
    ['deployment', 'delete', 'extra'],
    ['token', 'create', '--name', 'temp', '--developer'],
  ]) t.equal((await cli(...args, ...config)).code, 0, args.join(' '));
  t.equal((await cli('login', '--api-token', dev.secret, '--endpoint', gw.admin)).code, 0);
  const viaApi = await cli('token', 'rotate', user.token.id, '--json');
  t.equal(viaApi.code, 0, viaApi.stderr);
  const answer = JSON.parse(viaApi.stdout) as { token: { id: string }; secret: string; previous_secret_valid_until: string | null };
  t.equal(answer.token.id, user.token.id, '--json: the API\'s answer');
  t.equal(answer.previous_secret_valid_until, null, 'no --overlap: the old secret stops at once');
  t.equal(await call(answer.secret), 200);
  t.equal(await call(secret), 401, 'the secret it replaced is refused');
  t.equal(await call(user.secret), 401, 'and so is the one before');

  const [listed, page, local2, badCursor] = await Promise.all([
    cli('audit', 'list', '--json'),
    cli('audit', 'list', '--limit', '1'),
    cli('audit', 'list', ...config),
    cli('audit', 'list', '--before', 'nonsense'),
  ]);
  t.equal(listed.code, 0, listed.stderr);
  const events = (JSON.parse(listed.stdout) as { events: { action: string; target: string; actor: { token_id: string | null; user: string } }[] }).events;
  const byLocal = { token_id: null, user: 'local' };
  t.same(events.map((e) => [e.action, e.target, e.actor]), [
    ['token.rotate', user.token.id, { token_id: dev.token.id, user: 'carol' }],
    ['token.create', events[1]?.target, byLocal],
    ['deployment.delete', 'extra', byLocal],
    ['deployment.patch', 'extra', byLocal],
    ['deployment.put', 'extra', byLocal],
    ['token.rotate', user.token.id, byLocal],
  ], 'newest first: the API rotation by carol, the --config changes by local');
  t.notOk(listed.stdout.includes(secret) || listed.stdout.includes(answer.secret), 'no secret in an event');
  t.equal(page.code, 0, page.stderr);
  t.match(page.stdout, /^TIME\s+ACTION\s+TARGET\s+USER\s+TOKEN\s+CLIENT\s+REQUEST\n.*token\.rotate\s+tok_\w+\s+carol/);
  t.match(page.stdout, /More: gatehouse audit list --limit 1 --before aud_\w+\n$/);
  t.equal(local2.code, 0, local2.stderr);
  t.match(local2.stdout, /token\.rotate\s+\S+\s+local\s+-\s+-\s+-/);
  t.equal(badCursor.code, 1);
  t.match(badCursor.stderr, /before: must be a "next" cursor/);
});
