import { parseBearer } from '../auth/bearer';
import { usableToken } from '../auth/token-cache';
import { isWellFormed } from '../auth/token-format';
import { GatehouseError, REFUSALS } from '../errors';
import type { Runtime } from '../runtime';
import type { TokenRecord } from '../store/types';

const FORBIDDEN = new GatehouseError('forbidden', { message: 'this token is not a developer token; the admin API needs one' });

/**
 * Its holder is told the token expired (the CLI then says to log in again); the
 * data plane keeps answering a bare invalid_token, as for any refused token.
 */
function expired(token: TokenRecord): GatehouseError {
  return new GatehouseError('invalid_token', { message: `this token expired at ${token.expiresAt ?? 'an earlier time'}`, tokenId: token.id });
}

/**
 * Checks an admin API caller's `Authorization: Bearer` with the decider's
 * keyed hash and the same token cache as the data plane, so a revocation
 * reaches the admin API as fast as it reaches Deployments. Resolves with the
 * developer token; rejects with missing_token / invalid_token (401),
 * forbidden (403) or store_unavailable (503).
 */
export async function authenticate(runtime: Runtime, authorization: string | undefined): Promise<TokenRecord> {
  if (authorization === undefined) throw REFUSALS.missingToken;
  const secret = parseBearer(authorization);
  if (!secret || !isWellFormed(secret)) throw REFUSALS.invalidToken;
  const entry = await runtime.cache.lookup(runtime.decider.hash(secret));
  const token = usableToken(entry, Date.now());
  if (token === null) throw entry.record !== null && !entry.record.disabled ? expired(entry.record) : REFUSALS.invalidToken;
  if (!token.developer) throw FORBIDDEN;
  return token;
}
