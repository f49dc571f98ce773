import { parseDuration } from '../config/duration';
import { table, parse, required, UsageError, CommandError } from './args';
import { backendFor } from './backend';
import { describeLimits, limitsFromFlags, type LimitsJson } from './limit-flags';
import { tokenId } from './token-id';

export const TOKEN_HELP = `Usage: gatehouse token <command> [flags]

Commands:
  create --name N [--description D] [--user-deployment NAME]... [--developer]
         [--expires-in 30d] [--rate 600/m] [--concurrent 4] [--owner U] [--config FILE] [--json]
                       Creates a token and prints its secret (shown only this once).
  list [--json] [--config FILE]
  update ID [--rate 600/m|none] [--concurrent 4|none] [--config FILE] [--json]
                       Changes a token's limits; a limit not named is kept, none removes it.
  delete ID [--config FILE]
  rotate ID [--overlap 10m] [--json] [--config FILE]
                       Gives the token a new secret; the old one works for the overlap.

--rate is requests per second, minute or hour (10/s, 600/m, 3600/h; a bare
number is per minute), kept per minute; --concurrent caps requests and
streams in progress at once.

With --config FILE the command acts on that config's store directly (how the
first developer token is made); without it, on the admin API of the current
context (see 'gatehouse login').
`;

export async function tokenCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'create': return create(rest);
    case 'list': return list(rest);
    case 'update': return update(rest);
    case 'delete': return remove(rest);
    case 'rotate': return (await import('./token-rotate-command')).rotateCommand(rest);
    case undefined: case '--help': case '-h': case 'help':
      (sub === undefined ? process.stderr : process.stdout).write(TOKEN_HELP);
      return sub === undefined ? 2 : 0;
    default:
      throw new UsageError(`unknown token command "${sub}" (expected create, list, update, delete or rotate)`);
  }
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
    config: { type: 'string' },
    json: { type: 'boolean' },
  });
  if (values.help) return help();
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
  const backend = await backendFor(values.config);
  try {
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
  } finally {
    await backend.close();
  }
}

async function list(argv: string[]): Promise<number> {
  const { values } = parse(argv, { config: { type: 'string' }, json: { type: 'boolean' } });
  if (values.help) return help();
  const backend = await backendFor(values.config);
  try {
    const tokens = await backend.listTokens();
    if (values.json) {
      process.stdout.write(JSON.stringify({ tokens }, null, 2) + '\n');
      return 0;
    }
    const rows = tokens.map((t) => [
      String(t.id), String(t.name), String(t.owner),
      [t.user ? 'user' : '', t.developer ? 'developer' : ''].filter(Boolean).join('+'),
      (t.user as { deployments?: string[] } | null)?.deployments?.join(',') ?? '-',
      String(t.created_at), t.last_used_at ? String(t.last_used_at) : '-', t.expires_at ? String(t.expires_at) : 'never',
      t.disabled ? 'yes' : 'no', describeLimits(t.limits),
    ]);
    process.stdout.write(table(['ID', 'NAME', 'OWNER', 'TYPES', 'DEPLOYMENTS', 'CREATED', 'LAST USED', 'EXPIRES', 'DISABLED', 'LIMITS'], rows));
    return 0;
  } finally {
    await backend.close();
  }
}

async function update(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, {
    rate: { type: 'string' }, concurrent: { type: 'string' }, config: { type: 'string' }, json: { type: 'boolean' },
  }, 1);
  if (values.help) return help();
  const id = positionals[0];
  if (!id) throw new UsageError('missing token ID: gatehouse token update ID [--rate 600/m|none] [--concurrent 4|none]');
  const change = limitsFromFlags(values.rate, values.concurrent, true);
  if (change === undefined) throw new UsageError('nothing to change: give --rate and/or --concurrent');
  const backend = await backendFor(values.config);
  try {
    const current = (await backend.listTokens()).find((t) => t.id === id);
    if (current === undefined) throw new CommandError(`no token with id "${id}"`);
    const merged = { ...((current.limits ?? {}) as LimitsJson), ...change };
    const token = await backend.setTokenLimits(id, (merged.requests_per_minute ?? null) === null && (merged.concurrent ?? null) === null ? null : merged);
    if (token === null) throw new CommandError(`no token with id "${id}"`);
    if (values.json) process.stdout.write(JSON.stringify({ token }, null, 2) + '\n');
    else process.stdout.write(`Updated token ${id}: limits ${describeLimits(token.limits)}.\n`);
    return 0;
  } finally {
    await backend.close();
  }
}

async function remove(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { config: { type: 'string' } }, 1);
  if (values.help) return help();
  const id = tokenId(positionals[0], 'delete');
  const backend = await backendFor(values.config);
  try {
    if (!(await backend.deleteToken(id))) throw new CommandError(`no token with id "${id}"`);
    process.stdout.write(`Deleted token ${id}.\n`);
    return 0;
  } finally {
    await backend.close();
  }
}

function help(): number {
  process.stdout.write(TOKEN_HELP);
  return 0;
}
