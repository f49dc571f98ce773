import t from 'tap';
import { tokenHasher } from '../../gateway/auth/token-hash';
import { CommandError, UsageError } from '../../gateway/cli/args';
import { tokenCommand } from '../../gateway/cli/token-commands';
import { runCli } from '../helpers/cli';
import { hostOf, PEPPER, spawnGateway, writeConfig } from '../helpers/gateway';
import { get } from '../helpers/http';
import { startUpstream } from '../helpers/upstream';

const SECRET = /gth_[0-9A-Za-z]{36}/g;
/** Revocation reaches every process sharing the store within one second (SPEC §4). */
const PROPAGATION_MS = 1_000;

t.test('token commands with --config, next to a running gateway on the same embedded store', async (t) => {
  const up = await startUpstream(t);
  const { file } = writeConfig({
    deployments: [
      { name: 'guarded', access: 'protected', upstreams: [up.url] },
      { name: 'open', access: 'public', upstreams: [up.url] },
    ],
  });
  const cli = (...args: string[]) => runCli(args, {});
  const gw = await spawnGateway(t, file);
  // Child processes for what a user sees (exit status, stdout, stderr); each costs seconds of TypeScript compiling.
  const [created, createdJson, unknownFlag, missingName, unknownDeployment, help] = await Promise.all([
    cli('token', 'create', '--name', 'ci', '--user-deployment', 'guarded', '--config', file),
    cli('token', 'create', '--name', 'ops', '--description', 'first developer', '--developer', '--user-deployment', '*',
      '--expires-in', '30d', '--owner', 'root', '--config', file, '--json'),
    cli('token', 'list', '--config', file, '--bogus'),
    cli('token', 'create', '--developer', '--config', file),
    cli('token', 'create', '--name', 'x', '--user-deployment', 'nope', '--config', file),
    cli('token', '--help'),
  ]);
  const call = (secret: string) => get(`http://127.0.0.1:${gw.ports.external}/x`, { host: hostOf('guarded'), authorization: `Bearer ${secret}` });

  t.test('create prints the secret once', async (t) => {
    t.equal(created.code, 0, created.stderr);
    const secrets = created.stdout.match(SECRET) ?? [];
    t.equal(secrets.length, 1, 'exactly one secret, printed once');
    t.match(created.stdout, /Created token "ci" \(id tok_\w+\)/);
    t.match(created.stdout, /shown only this once/);
    t.equal(created.stderr, '');
    t.equal((await call(secrets[0]!)).status, 200, 'the running gateway accepts it');
  });

  t.test('create --json answers {token, secret}', async (t) => {
    t.equal(createdJson.code, 0, createdJson.stderr);
    const made = JSON.parse(createdJson.stdout) as { token: Record<string, unknown>; secret: string };
    t.same(Object.keys(made).sort(), ['secret', 'token']);
    t.match(made.secret, /^gth_[0-9A-Za-z]{36}$/);
    t.match(made.token, {
      id: /^tok_/, name: 'ops', description: 'first developer', owner: 'root', developer: true,
      user: { deployments: ['*'] }, disabled: false, last_used_at: null,
    });
    t.notOk('hash' in made.token, 'no hash');
    t.notOk(JSON.stringify(made.token).includes(made.secret), 'the secret only once');
    const expires = Date.parse(String(made.token.expires_at));
    t.ok(Math.abs(expires - (Date.now() + 30 * 86_400_000)) < 10 * 60_000, `--expires-in 30d: ${String(made.token.expires_at)}`);
    t.equal((await call(made.secret)).status, 200, 'the running gateway accepts it');
  });

  t.test('usage errors exit 2 with the message on stderr', async (t) => {
    for (const [what, run, message] of [
      ['unknown flag', unknownFlag, /--bogus/],
      ['missing --name', missingName, /missing required flag --name/],
    ] as const) {
      t.equal(run.code, 2, `${what}: exit 2`);
      t.match(run.stderr, message, `${what}: says why`);
      t.equal(run.stdout, '', `${what}: nothing on stdout`);
    }
    // The same mapping (UsageError -> 2, CommandError -> 1) for more cases, in process: they fail before any output.
    for (const [what, argv, message] of [
      ['flag without its value', ['create', '--name', 'x', '--config', file, '--user-deployment'], /--user-deployment/],
      ['no token type', ['create', '--name', 'x', '--config', file], /needs a type/],
      ['missing ID', ['delete', '--config', file], /missing token ID/],
      ['unknown subcommand', ['frobnicate', '--config', file], /unknown token command "frobnicate"/],
      ['bad --expires-in', ['create', '--name', 'x', '--developer', '--expires-in', 'soon', '--config', file], /--expires-in must be a duration/],
      // Before: a bare "Invalid time value" (RangeError), or the store's "expires_at: must be an RFC 3339 time", both exit 1.
      ['--expires-in past any date', ['create', '--name', 'x', '--developer', '--expires-in', '99999999999d', '--config', file], /--expires-in is too long/],
      ['--expires-in past the year 9999', ['create', '--name', 'x', '--developer', '--expires-in', '3000000d', '--config', file], /--expires-in is too long/],
      ['a flag given twice', ['list', '--config', file, '--config', file + '.other'], /--config given more than once/],
    ] as const) {
      await t.rejects(tokenCommand([...argv]), { constructor: UsageError, message }, what);
    }
  });

  t.test('refusals exit 1 with the message on stderr', async (t) => {
    t.equal(unknownDeployment.code, 1);
    t.match(unknownDeployment.stderr, /user\.deployments\[0\]: unknown Deployment "nope"/);
    t.equal(unknownDeployment.stdout, '', 'no secret printed for a refused token');
    await t.rejects(tokenCommand(['list', '--config', file + '.missing']), { constructor: CommandError, message: /cannot read config file/ }, 'a missing config');
  });

  t.test('--help exits 0', async (t) => {
    t.equal(help.code, 0);
    t.match(help.stdout, /create --name N/);
    t.match(help.stdout, /--user-deployment NAME/);
  });

  const ciSecret = (created.stdout.match(SECRET) ?? [''])[0]!;
  const opsSecret = (JSON.parse(createdJson.stdout) as { secret: string }).secret;
  const [listed, listedJson] = await Promise.all([cli('token', 'list', '--config', file), cli('token', 'list', '--json', '--config', file)]);

  t.test('list shows every token, never a secret or hash', async (t) => {
    const hashes = [ciSecret, opsSecret].map(tokenHasher(PEPPER));
    for (const [what, run] of [['table', listed], ['json', listedJson]] as const) {
      t.equal(run.code, 0, `${what}: ${run.stderr}`);
      t.equal((run.stdout.match(SECRET) ?? []).length, 0, `${what}: no secret`);
      for (const hash of hashes) t.notOk(run.stdout.includes(hash), `${what}: no hash`);
    }
    t.match(listed.stdout, /^ID +NAME +OWNER +TYPES +DEPLOYMENTS +CREATED +LAST USED +EXPIRES +STATUS +LIMITS\n/);
    t.match(listed.stdout, /\ntok_\w+ +ci +\S+ +user +guarded +\S+ +\S+ +never +active +-\n/);
    t.match(listed.stdout, /\ntok_\w+ +ops +root +user\+developer +\* +/);
    const { tokens } = JSON.parse(listedJson.stdout) as { tokens: Array<Record<string, unknown>> };
    t.same(tokens.map((tok) => tok.name).sort(), ['ci', 'ops']);
    for (const tok of tokens) {
      t.same(Object.keys(tok).sort(), ['created_at', 'description', 'developer', 'disabled', 'expires_at', 'id', 'last_used_at', 'limits', 'name', 'owner', 'user']);
    }
  });

  t.test('delete revokes at once, even in the running gateway', async (t) => {
    const { tokens } = JSON.parse(listedJson.stdout) as { tokens: Array<{ id: string; name: string }> };
    const ci = tokens.find((tok) => tok.name === 'ci')!;
    t.equal((await call(ciSecret)).status, 200, 'cached in the gateway before the delete');
    const deleted = await cli('token', 'delete', ci.id, '--config', file);
    const deletedAt = Date.now();
    t.equal(deleted.code, 0, deleted.stderr);
    t.equal(deleted.stdout, `Deleted token ${ci.id}.\n`);
    let status = 200;
    while (status === 200 && Date.now() - deletedAt < 5_000) status = (await call(ciSecret)).status;
    const took = Date.now() - deletedAt;
    t.equal(status, 401, 'the deleted token is refused');
    t.ok(took <= PROPAGATION_MS, `within one second of the command (${took} ms)`);
    t.equal((await call(opsSecret)).status, 200, 'other tokens keep working');

    await t.rejects(tokenCommand(['delete', ci.id, '--config', file]), { constructor: CommandError, message: `no token with id or name "${ci.id}"; "gatehouse token list" shows the tokens` },
      'deleting it again is refused');
  });
});
