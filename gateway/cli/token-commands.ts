import { parseDuration } from '../config/duration';
import { table, parse, required, UsageError, CommandError } from './args';
import { TARGET_FLAGS, TARGET_HELP, withBackend, type Backend, type TokenJson } from './backend';
import { runGroup, type CommandGroup } from './subcommands';
import { describeLimits, limitsFromFlags, type LimitsJson } from './limit-flags';
import { tokenId } from './token-id';

const TOKEN: CommandGroup = {
  name: 'token',
  note: TARGET_HELP,
  subcommands: {
    create: {
      usage: `create --name N [--description D] [--user-deployment NAME]... [--developer]
       [--expires-in 30d] [--rate 600/m] [--concurrent 4] [--owner U] [--json]
       [--config FILE | --context NAME]`,
      summary: 'Creates a token and prints its secret (shown only this once).',
      flags: `  --name N                 the token's name
  --description D          free text
  --user-deployment NAME   may call this protected Deployment (repeatable; "*": all)
  --developer              may use the admin API, the CLI and the console
                           (at least one of --user-deployment and --developer)
  --expires-in DURATION    e.g. 30d, 12h, 90m (default: never)
  --rate R                 requests per second, minute or hour (10/s, 600/m, 3600/h; a bare
                           number is per minute), kept per minute
  --concurrent N           requests and streams in progress at once
  --owner U                the owner's user name (only with --config)
  --json                   print the API's answer, {"token", "secret"}`,
      run: create,
    },
    list: {
      usage: 'list [--json] [--config FILE | --context NAME]',
      summary: 'Lists the tokens with their status: active, disabled or expired.',
      run: list,
    },
    delete: {
      usage: 'delete ID|NAME [--config FILE | --context NAME]',
      summary: 'Deletes a token (by id, or by a name no other token has); its secret stops working everywhere within a second.',
      run: (argv) => change(argv, 'delete'),
    },
    update: {
      usage: 'update ID [--rate 600/m|none] [--concurrent 4|none] [--json] [--config FILE | --context NAME]',
      summary: "Changes a token's limits; a limit not named is kept, none removes it.",
      run: update,
    },
    disable: {
      usage: 'disable ID|NAME [--config FILE | --context NAME]',
      summary: 'Refuses the token like a revoked one, keeping it (and its secret) for enable.',
      run: (argv) => change(argv, 'disable'),
    },
    enable: {
      usage: 'enable ID|NAME [--config FILE | --context NAME]',
      summary: 'Makes a disabled token work again, with the same secret.',
      run: (argv) => change(argv, 'enable'),
    },
    rotate: {
      usage: 'rotate ID [--overlap 10m] [--json] [--config FILE | --context NAME]',
      summary: 'Gives the token a new secret (shown only this once) and keeps its id, types, Deployments and expiry.',
      flags: `  --overlap D   how long the old secret keeps working (default 0s: it stops at once; at most 7d).
                Rotating again within an overlap ends the overlap of the secret replaced
                before: at most two secrets work.
  --json        print the API's answer`,
      run: async (argv) => (await import('./token-rotate-command')).rotateCommand(argv),
    },
  },
};

export function tokenCommand(argv: string[]): Promise<number> {
  return runGroup(TOKEN, argv);
}

async function create(argv: string[]): Promise<number> {
  const { values } = parse(argv, {
    name: { type: 'string' },
    description: { type: 'string' },
    'user-deployment': { type: 'string', multiple: true },
    developer: { type: 'boolean' },
    'expires-in': { type: 'string' },
    owner: { type: 'string' },
    rate: { type: 'string' },
    concurrent: { type: 'string' },
    json: { type: 'boolean' },
    ...TARGET_FLAGS,
  });
  const name = required(values.name, '--name');
  const limits = limitsFromFlags(values.rate, values.concurrent, false);
  if (values.owner !== undefined && values.config === undefined) {
    throw new UsageError('--owner applies only with --config: a token made through the admin API belongs to the caller');
  }
  let expiresAt: string | undefined;
  if (values['expires-in'] !== undefined) {
    const ms = parseDuration(values['expires-in']);
    if (ms === undefined || ms <= 0) throw new UsageError(`--expires-in must be a duration like 30d, 12h or 90m (got "${values['expires-in']}")`);
    const at = new Date(Date.now() + ms);
    // RFC 3339 has four-digit years (later ones are refused as expires_at), and past 275760 a Date is invalid.
    if (!(at.getUTCFullYear() <= 9999)) throw new UsageError(`--expires-in is too long: the token must expire before the year 10000 (got "${values['expires-in']}")`);
    expiresAt = at.toISOString();
  }
  const deployments = values['user-deployment'];
  if (!deployments?.length && !values.developer) throw new UsageError('a token needs a type: --user-deployment NAME (repeatable, "*" for all) and/or --developer');
  return withBackend(values, async (backend) => {
    const { token, secret } = await backend.createToken({
      name,
      description: values.description,
      user: deployments?.length ? { deployments } : undefined,
      developer: values.developer === true,
      expires_at: expiresAt,
      limits,
      owner: values.owner,
    });
    if (values.json) {
      process.stdout.write(JSON.stringify({ token, secret }, null, 2) + '\n');
    } else {
      process.stdout.write(`Created token "${String(token.name)}" (id ${String(token.id)}).\n`);
      process.stdout.write(`Secret (shown only this once; store it now):\n${secret}\n`);
    }
    return 0;
  });
}

/** What `token list` shows for a token: the console's words. */
export function tokenStatus(token: TokenJson, now = Date.now()): 'active' | 'disabled' | 'expired' {
  if (token.disabled) return 'disabled';
  return typeof token.expires_at === 'string' && Date.parse(token.expires_at) <= now ? 'expired' : 'active';
}

async function list(argv: string[]): Promise<number> {
  const { values } = parse(argv, { json: { type: 'boolean' }, ...TARGET_FLAGS });
  return withBackend(values, async (backend) => {
    const tokens = await backend.listTokens();
    if (values.json) {
      process.stdout.write(JSON.stringify({ tokens }, null, 2) + '\n');
      return 0;
    }
    const now = Date.now();
    const rows = tokens.map((t) => [
      String(t.id), String(t.name), String(t.owner),
      [t.user ? 'user' : '', t.developer ? 'developer' : ''].filter(Boolean).join('+'),
      (t.user as { deployments?: string[] } | null)?.deployments?.join(',') ?? '-',
      String(t.created_at), t.last_used_at ? String(t.last_used_at) : '-', t.expires_at ? String(t.expires_at) : 'never',
      tokenStatus(t, now), describeLimits(t.limits),
    ]);
    process.stdout.write(table(['ID', 'NAME', 'OWNER', 'TYPES', 'DEPLOYMENTS', 'CREATED', 'LAST USED', 'EXPIRES', 'STATUS', 'LIMITS'], rows));
    return 0;
  });
}

/** The token an ID|NAME argument means: an id, else the one token with that name. */
async function resolveToken(backend: Backend, idOrName: string): Promise<TokenJson> {
  const tokens = await backend.listTokens();
  const byId = tokens.find((t) => t.id === idOrName);
  if (byId) return byId;
  const named = tokens.filter((t) => t.name === idOrName);
  if (named.length === 1) return named[0]!;
  if (named.length > 1) {
    throw new CommandError(`${named.length} tokens are named "${idOrName}" (${named.map((t) => String(t.id)).join(', ')}): give the ID; "gatehouse token list" shows them`);
  }
  throw new CommandError(`no token with id or name "${idOrName}"; "gatehouse token list" shows the tokens`);
}

async function change(argv: string[], action: 'delete' | 'disable' | 'enable'): Promise<number> {
  const { values, positionals } = parse(argv, TARGET_FLAGS, 1);
  const idOrName = positionals[0];
  if (!idOrName) throw new UsageError(`missing token ID or NAME: gatehouse token ${action} ID|NAME`);
  tokenId(idOrName, action);
  return withBackend(values, async (backend) => {
    const token = await resolveToken(backend, idOrName);
    const id = String(token.id);
    // Gone meanwhile: say so as for an unknown id.
    const done = action === 'delete' ? await backend.deleteToken(id) : (await backend.setTokenDisabled(id, action === 'disable')) !== null;
    if (!done) throw new CommandError(`no token with id "${id}"; "gatehouse token list" shows the tokens`);
    process.stdout.write(`${action === 'delete' ? 'Deleted' : action === 'disable' ? 'Disabled' : 'Enabled'} token ${id}.\n`);
    return 0;
  });
}

async function update(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { rate: { type: 'string' }, concurrent: { type: 'string' }, json: { type: 'boolean' }, ...TARGET_FLAGS }, 1);
  const id = tokenId(positionals[0], 'update');
  const change = limitsFromFlags(values.rate, values.concurrent, true);
  if (change === undefined) throw new UsageError('nothing to change: give --rate and/or --concurrent');
  return withBackend(values, async (backend) => {
    const current = (await backend.listTokens()).find((t) => t.id === id);
    if (current === undefined) throw new CommandError(`no token with id "${id}"`);
    const merged = { ...((current.limits ?? {}) as LimitsJson), ...change };
    const token = await backend.setTokenLimits(id, (merged.requests_per_minute ?? null) === null && (merged.concurrent ?? null) === null ? null : merged);
    if (token === null) throw new CommandError(`no token with id "${id}"`);
    if (values.json) process.stdout.write(JSON.stringify({ token }, null, 2) + '\n');
    else process.stdout.write(`Updated token ${id}: limits ${describeLimits(token.limits)}.\n`);
    return 0;
  });
}
