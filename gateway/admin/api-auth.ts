import { parseBearer } from '../auth/bearer';
import { isWellFormed } from '../auth/token-format';
import { tokenHasher, type TokenHasher } from '../auth/token-hash';
import { GatehouseError, REFUSALS } from '../errors';
import type { Runtime } from '../runtime';
import type { TokenRecord } from '../store/types';

const FORBIDDEN = new GatehouseError('forbidden', { message: 'this token is not a developer token; the admin API needs one' });

/**
 * Checks an admin API caller's `Authorization: Bearer` through the same
 * token cache as the data plane (so a revocation reaches the admin API as
 * fast as it reaches Deployments). Resolves with the developer token;
 * rejects with missing_token / invalid_token (401), forbidden (403) or
 * store_unavailable (503).
 */
export class ApiAuthenticator {
  private pepper: string | undefined;
  private hash: TokenHasher = tokenHasher('');

  constructor(private readonly runtime: Runtime) {}

  async authenticate(authorization: string | undefined): Promise<TokenRecord> {
    if (authorization === undefined) throw REFUSALS.missingToken;
    const secret = parseBearer(authorization);
    if (!secret || !isWellFormed(secret)) throw REFUSALS.invalidToken;
    const entry = await this.runtime.cache.lookup(this.hasher()(secret));
    const token = entry.record;
    if (token === null || token.disabled || entry.expiresAtMs <= Date.now()) throw REFUSALS.invalidToken;
    if (!token.developer) throw FORBIDDEN;
    return token;
  }

  /** The hasher for the running config's pepper, rebuilt only when a reload changed it. */
  hasher(): TokenHasher {
    const pepper = this.runtime.config.tokens.pepper;
    if (pepper !== this.pepper) {
      this.pepper = pepper;
      this.hash = tokenHasher(pepper);
    }
    return this.hash;
  }
}
