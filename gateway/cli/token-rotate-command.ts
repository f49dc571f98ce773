import { parseOverlap } from '../auth/token-rotation';
import { isGatehouseError } from '../errors';
import { CommandError, parse, UsageError } from './args';
import { backendFor } from './backend';
import { tokenId } from './token-id';

export const ROTATE_HELP = `Usage: gatehouse token rotate ID [--overlap 10m] [--json] [--config FILE]

Gives the token a new secret (printed only this once) and keeps its id,
types, Deployments and expiry. The old secret keeps working for --overlap
(default 0s: it stops at once; at most 7d). Rotating again within an overlap
ends the overlap of the secret replaced before: at most two secrets work.
`;

/** `gatehouse token rotate ID [--overlap D] [--json] [--config FILE]`. */
export async function rotateCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { overlap: { type: 'string' }, json: { type: 'boolean' }, config: { type: 'string' } }, 1);
  if (values.help) {
    process.stdout.write(ROTATE_HELP);
    return 0;
  }
  const id = tokenId(positionals[0], 'rotate');
  if (values.overlap !== undefined) {
    try {
      parseOverlap(values.overlap);
    } catch (err) {
      if (isGatehouseError(err)) throw new UsageError(`--${err.message}`);
      throw err;
    }
  }
  const backend = await backendFor(values.config);
  try {
    const rotated = await backend.rotateToken(id, values.overlap);
    if (rotated === null) throw new CommandError(`no token with id "${id}"`);
    if (values.json) {
      process.stdout.write(JSON.stringify(rotated, null, 2) + '\n');
      return 0;
    }
    process.stdout.write(`Rotated token "${String(rotated.token.name)}" (id ${id}).\n`);
    process.stdout.write(`New secret (shown only this once; store it now):\n${rotated.secret}\n`);
    const until = rotated.previous_secret_valid_until;
    process.stdout.write(until === null ? 'The old secret no longer works.\n' : `The old secret keeps working until ${until}.\n`);
    return 0;
  } finally {
    await backend.close();
  }
}
