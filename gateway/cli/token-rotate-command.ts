import { parseOverlap } from '../auth/token-rotation';
import { isGatehouseError } from '../errors';
import { CommandError, parse, UsageError } from './args';
import { TARGET_FLAGS, withBackend } from './backend';
import { tokenId } from './token-id';

/** `gatehouse token rotate ID [--overlap D] [--json] [--config FILE | --context NAME]`; its help is in token-commands.ts. */
export async function rotateCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { overlap: { type: 'string' }, json: { type: 'boolean' }, ...TARGET_FLAGS }, 1);
  const id = tokenId(positionals[0], 'rotate');
  if (values.overlap !== undefined) {
    try {
      parseOverlap(values.overlap);
    } catch (err) {
      if (isGatehouseError(err)) throw new UsageError(`--${err.message}`);
      throw err;
    }
  }
  return withBackend(values, async (backend) => {
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
  });
}
