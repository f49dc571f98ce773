import { parseDuration } from '../config/duration';
import { GatehouseError } from '../errors';
import type { Store, TokenRecord } from '../store/types';
import { generateSecret } from './token-format';
import type { TokenHasher } from './token-hash';

/** The longest overlap a rotation may leave the old secret working. */
export const MAX_OVERLAP_MS = 7 * 86_400_000;

/** `overlap` as asked for (a duration string like `10m`; absent: 0) in milliseconds; 400 naming `overlap` otherwise. */
export function parseOverlap(value: unknown): number {
  if (value === undefined || value === null) return 0;
  const ms = typeof value === 'string' ? parseDuration(value) : undefined;
  if (ms === undefined) throw new GatehouseError('invalid_field', { message: 'overlap: must be a duration like 0s, 10m, 24h or 7d', field: 'overlap' });
  if (ms > MAX_OVERLAP_MS) throw new GatehouseError('invalid_field', { message: `overlap: at most 7d (got "${String(value)}")`, field: 'overlap' });
  return ms;
}

/**
 * Gives a token a new secret, keeping its id, scopes and expiry; the old
 * secret keeps working for `overlapMs`. A secret replaced by an earlier
 * rotation stops at once: at most two secrets work at any time. A disabled or
 * expired token is refused (409): rotating would look like reviving it.
 * Answers null when there is no such token; the new secret is in the answer
 * and nowhere else.
 */
export async function rotateToken(store: Store, hash: TokenHasher, id: string, overlapMs: number, now = Date.now()):
Promise<{ token: TokenRecord; secret: string; previousHash: string; previousUntil: string | null } | null> {
  const current = await store.getToken(id);
  if (current === null) return null;
  if (current.disabled) throw new GatehouseError('conflict', { message: `token "${id}" is disabled; enable it before rotating its secret` });
  if (current.expiresAt !== null && Date.parse(current.expiresAt) <= now) {
    throw new GatehouseError('conflict', { message: `token "${id}" has expired; create a new token instead of rotating this one` });
  }
  const secret = generateSecret();
  const until = overlapMs > 0 ? new Date(now + overlapMs).toISOString() : null;
  const token = await store.rotateToken(id, hash(secret), until);
  return token === null ? null : { token, secret, previousHash: current.hash, previousUntil: until };
}
