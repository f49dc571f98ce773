import { TOKEN_PREFIX } from '../auth/token-format';
import { CommandError, UsageError } from './args';

/**
 * The ID argument of a command on one token. A secret pasted in its place is
 * refused before it goes anywhere (an API URL, a log), and never quoted back.
 */
export function tokenId(value: string | undefined, command: string): string {
  if (!value) throw new UsageError(`missing token ID: gatehouse token ${command} ID`);
  if (value.startsWith(TOKEN_PREFIX)) {
    throw new CommandError('that looks like a token secret, not a token id (ids start with tok_; see `gatehouse token list`). '
      + 'It was not sent anywhere; if it was shared by mistake, delete or rotate that token.');
  }
  return value;
}
