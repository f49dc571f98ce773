import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { runCli } from '../helpers/cli';
import { startGateway } from '../helpers/gateway';
import { startUpstream } from '../helpers/upstream';

// What a new user meets in the CLI's first hour: help per subcommand, messages that say what to do,
// token statuses, names for ids, contexts.

function home(t: Test): NodeJS.ProcessEnv {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-home-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return { GATEHOUSE_HOME: dir };
}

t.test('each subcommand has its own help', async (t) => {
  const env = home(t);
  const [create, group, apply, disable] = await Promise.all([
    runCli(['token', 'create', '--help'], env), runCli(['token', '--help'], env),
    runCli(['deployment', 'apply', 'x', '-h'], env), runCli(['token', 'disable', '--help'], env),
  ]);
  t.equal(create.code, 0);
  t.match(create.stdout, /^Usage: gatehouse token create --name N/);
  t.match(create.stdout, /--expires-in DURATION/, 'its flags, explained');
  t.notMatch(create.stdout, /delete|list \[/, 'nothing of the other token commands');
  t.equal(group.code, 0);
  for (const sub of ['create', 'list', 'delete', 'disable', 'enable']) t.match(group.stdout, new RegExp(`\\n  ${sub} `), `the group lists ${sub}`);
  t.match(apply.stdout, /^Usage: gatehouse deployment apply NAME/);
  t.match(apply.stdout, /--forward-authorization/);
  t.match(apply.stdout, /--response-timeout D/);
  t.match(disable.stdout, /^Usage: gatehouse token disable ID\|NAME/);
});

t.test('every API command takes --context NAME; limits are positive integers', async (t) => {
  const env = home(t);
  // An unknown context is refused (exit 1) once the flags parsed: a command without --context would be a usage error (2).
  const commands = [
    ['token', 'create', '--name', 'n', '--developer'], ['token', 'list'], ['token', 'delete', 'x'], ['token', 'update', 'x', '--rate', '1/m'],
    ['token', 'disable', 'x'], ['token', 'enable', 'x'], ['token', 'rotate', 'x', '--overlap', '10m', '--json'],
    ['deployment', 'list'], ['deployment', 'get', 'x'], ['deployment', 'apply', 'x', '--access', 'public'], ['deployment', 'delete', 'x'],
    ['audit', 'list', '--limit', '5', '--json'],
  ];
  const results = await Promise.all(commands.map((args) => runCli([...args, '--context', 'nope'], env)));
  results.forEach((r, i) => {
    t.equal(r.code, 1, `${commands[i]!.join(' ')} --context nope: exit 1`);
    t.match(r.stderr, /^gatehouse: no context named "nope" .*\(none saved\)/, commands[i]!.join(' '));
  });
  const limits = ['0', '-1', '1.5', 'ten', '1001'];
  const bad = await Promise.all(limits.map((n) => runCli(['audit', 'list', `--limit=${n}`], env)));
  bad.forEach((r, i) => {
    t.equal(r.code, 2, `--limit ${limits[i]}: a usage error`);
    t.match(r.stderr, `--limit must be an integer from 1 to 1000 (got "${limits[i]}")`);
  });
  const flags = ['--rate=0', '--rate=-5/m', '--rate=1.5', '--concurrent=0', '--concurrent=-1', '--concurrent=2.5'];
  const refused = await Promise.all(flags.map((f) => runCli(['token', 'create', '--name', 'n', '--developer', f], env)));
  refused.forEach((r, i) => {
    t.equal(r.code, 2, `${flags[i]}: a usage error`);
    t.match(r.stderr, `gatehouse: ${flags[i]!.split('=')[0]} `, 'naming the flag');
  });
});

t.test('serve from another folder names the file it tried and --config', async (t) => {
  const env = home(t);
  const elsewhere = env.GATEHOUSE_HOME!;
  const served = await runCli(['serve'], env, 60_000, elsewhere);
  t.equal(served.code, 1);
  t.equal(served.stderr, `gatehouse: no config file at ${join(elsewhere, 'config', 'gatehouse.yaml')} (the default config/gatehouse.yaml, `
    + `relative to the current folder ${elsewhere}).\nRun gatehouse serve in the folder that holds config/ (a Gatehouse checkout), `
    + 'or name the config file with --config FILE.\n');
  const named = await runCli(['serve', '--config', 'nope.yaml'], env, 60_000, elsewhere);
  t.match(named.stderr, `no config file at ${join(elsewhere, 'nope.yaml')} (--config nope.yaml)`);
  const listed = await runCli(['token', 'list', '--config', 'nope.yaml'], env, 60_000, elsewhere);
  t.match(listed.stderr, `cannot read config file nope.yaml (${join(elsewhere, 'nope.yaml')}): ENOENT`);
});

t.test('against a running gateway', async (t) => {
  const up = await startUpstream(t);
  const gw = await startGateway(t, { deployments: [{ name: 'guarded', access: 'protected', upstreams: [up.url] }] });
  const dev = await gw.mint({ developer: true, name: 'ops', owner: 'alice' });
  const env = home(t);
  const cli = (...args: string[]) => runCli(args, env);

  t.test('login at a data-plane listener says it is not the admin listener', async (t) => {
    const wrong = await cli('login', '--api-token', dev.secret, '--endpoint', gw.external);
    t.equal(wrong.code, 1);
    t.match(wrong.stderr, `login failed: ${gw.external} is not a Gatehouse admin listener (GET /v1/whoami: 404 not_found`);
    t.match(wrong.stderr, /listeners\.admin in the config, http:\/\/127\.0\.0\.1:9090 in the example configs/);
  });

  t.test('contexts: login --context, list-context, update-current-context, --context', async (t) => {
    const other = await gw.mint({ developer: true, name: 'other', owner: 'bob' });
    t.equal((await cli('login', '--api-token', dev.secret, '--endpoint', gw.admin)).code, 0);
    t.equal((await cli('login', '--api-token', other.secret, '--endpoint', gw.admin, '--context', 'bob')).code, 0);
    const listed = await cli('list-context');
    t.equal(listed.stdout, `CURRENT  NAME     ENDPOINT\n         default  ${gw.admin}\n*        bob      ${gw.admin}\n`, 'the current one marked');
    t.notMatch((await cli('list-context', '--json')).stdout, /gth_/, 'no secret in the list');
    const file = join(env.GATEHOUSE_HOME!, 'contexts.json');
    const before = readFileSync(file, 'utf8');
    const unknown = await cli('update-current-context', 'nope');
    t.equal(unknown.code, 1, 'an unknown NAME: exit 1');
    t.match(unknown.stderr, /no context named "nope" .*saved: "default", "bob"/);
    t.equal(readFileSync(file, 'utf8'), before, 'nothing changed');
    const switched = await cli('update-current-context', 'default');
    t.equal(switched.stdout, `Switched to context "default" (${gw.admin}).\n`);
    t.equal((JSON.parse((await cli('current-context')).stdout) as { name: string }).name, 'default');
    const made = await cli('token', 'create', '--name', 'by-bob', '--user-deployment', 'guarded', '--context', 'bob', '--json');
    t.equal(made.code, 0, made.stderr);
    t.equal((JSON.parse(made.stdout) as { token: { owner: string } }).token.owner, 'bob', '--context acts as that context');
    t.equal((await cli('token', 'list', '--context', 'nope')).code, 1, 'an unknown --context: exit 1');
    t.equal((await cli('token', 'list', '--context', 'bob', '--config', gw.file)).code, 2, '--context with --config: usage error');
  });

  t.test('token list statuses; disable, enable and delete by id or unique name', async (t) => {
    const soon = await gw.mint({ user: ['guarded'], name: 'short-lived' });
    await gw.gateway.runtime.store.updateToken(soon.token.id, { expiresAt: '2020-01-01T00:00:00.000Z' });
    await gw.mint({ user: ['guarded'], name: 'twin' });
    await gw.mint({ user: ['guarded'], name: 'twin' });
    const cycled = await gw.mint({ user: ['guarded'], name: 'cycled' });
    const disabled = await cli('token', 'disable', 'cycled');
    t.equal(disabled.code, 0, disabled.stderr);
    t.equal(disabled.stdout, `Disabled token ${cycled.token.id}.\n`);
    const rows = (await cli('token', 'list')).stdout.split('\n');
    // STATUS, before LIMITS.
    const status = (name: string): string | undefined => rows.find((r) => r.includes(` ${name} `))?.trim().split(/\s+/).at(-2);
    t.equal(status('short-lived'), 'expired');
    t.equal(status('cycled'), 'disabled');
    t.equal(status('ops'), 'active');
    t.equal((await cli('token', 'enable', cycled.token.id)).code, 0, 'enable by id');
    t.equal((await gw.gateway.runtime.store.getToken(cycled.token.id))?.disabled, false);
    const twin = await cli('token', 'delete', 'twin');
    t.equal(twin.code, 1, 'an ambiguous name is refused');
    t.match(twin.stderr, /2 tokens are named "twin" \(tok_\S+, tok_\S+\): give the ID; "gatehouse token list" shows them/);
    const unknown = await cli('token', 'delete', 'no-such');
    t.match(unknown.stderr, 'no token with id or name "no-such"; "gatehouse token list" shows the tokens');
    const deleted = await cli('token', 'delete', 'cycled');
    t.equal(deleted.stdout, `Deleted token ${cycled.token.id}.\n`, 'delete by a unique name');
    t.equal(await gw.gateway.runtime.store.getToken(cycled.token.id), null);
  });

  t.test('deployment apply sets forwardAuthorization and timeouts', async (t) => {
    const made = await cli('deployment', 'apply', 'llm', '--access', 'protected', '--upstream', up.url,
      '--forward-authorization', '--response-timeout', '600s', '--json');
    t.equal(made.code, 0, made.stderr);
    const first = (JSON.parse(made.stdout) as { deployment: { forward_authorization: boolean; timeouts: object } }).deployment;
    t.equal(first.forward_authorization, true);
    t.same(first.timeouts, { response: '10m' });
    const changed = await cli('deployment', 'apply', 'llm', '--no-forward-authorization', '--connect-timeout', '2s', '--json');
    const second = (JSON.parse(changed.stdout) as { deployment: { forward_authorization: boolean; timeouts: object } }).deployment;
    t.equal(second.forward_authorization, false);
    t.same(second.timeouts, { connect: '2s', response: '10m' }, 'a timeout not given keeps its value');
    const bad = await cli('deployment', 'apply', 'llm', '--idle-timeout', 'soon');
    t.equal(bad.code, 2);
    t.match(bad.stderr, /--idle-timeout must be a duration/);
  });

  t.test('a context whose token expired says so, and that login makes a new one', async (t) => {
    const shortDev = await gw.mint({ developer: true, name: 'short-dev' });
    t.equal((await cli('login', '--api-token', shortDev.secret, '--endpoint', gw.admin, '--context', 'short')).code, 0);
    await gw.gateway.runtime.store.updateToken(shortDev.token.id, { expiresAt: '2020-01-01T00:00:00.000Z' });
    const listed = await cli('token', 'list', '--context', 'short');
    t.equal(listed.code, 1);
    t.match(listed.stderr, 'this token expired at 2020-01-01T00:00:00.000Z (401 invalid_token); '
      + `the token of context "short" was refused; "gatehouse login --api-token TOKEN --endpoint ${gw.admin}" makes a new context`);
  });
});
