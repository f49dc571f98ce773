import { parse, table, UsageError } from './args';
import { TARGET_FLAGS, withBackend } from './backend';

export const AUDIT_HELP = `Usage: gatehouse audit list [--limit N] [--before CURSOR] [--json] [--config FILE | --context NAME]

Lists changes made through the admin API or the CLI, newest first: who
(token and user; "local" for --config commands), what, when, and from where.
--limit: 1 to 1000 (default 50). A listing that has more ends with the cursor
to pass as --before for the next page.
`;

/** `gatehouse audit list`. */
export async function auditCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === '--help' || sub === '-h' || sub === 'help') {
    process.stdout.write(AUDIT_HELP);
    return 0;
  }
  if (sub === undefined) {
    process.stderr.write(AUDIT_HELP);
    return 2;
  }
  if (sub !== 'list') throw new UsageError(`unknown audit command "${sub}" (expected list)`);
  return list(rest);
}

async function list(argv: string[]): Promise<number> {
  const { values } = parse(argv, { limit: { type: 'string' }, before: { type: 'string' }, json: { type: 'boolean' }, ...TARGET_FLAGS });
  if (values.help) {
    process.stdout.write(AUDIT_HELP);
    return 0;
  }
  const limit = values.limit === undefined ? 50 : Number(values.limit);
  if (!/^\d+$/.test(values.limit ?? '50') || limit < 1 || limit > 1_000) throw new UsageError(`--limit must be an integer from 1 to 1000 (got "${values.limit}")`);
  return withBackend(values, async (backend) => {
    const page = await backend.listAudit(limit, values.before);
    if (values.json) {
      process.stdout.write(JSON.stringify(page, null, 2) + '\n');
      return 0;
    }
    const rows = page.events.map((e) => [
      e.time, e.action, e.target, e.actor.user, e.actor.token_id ?? '-', e.client_address ?? '-', e.request_id ?? '-',
    ]);
    process.stdout.write(table(['TIME', 'ACTION', 'TARGET', 'USER', 'TOKEN', 'CLIENT', 'REQUEST'], rows));
    if (page.next !== null) process.stdout.write(`More: gatehouse audit list --limit ${limit} --before ${page.next}\n`);
    return 0;
  });
}
