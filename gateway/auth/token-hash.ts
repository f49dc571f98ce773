import { createHmac, createSecretKey, hash, randomBytes, type KeyObject } from 'node:crypto';

/** The keyed hash (HMAC-SHA256 with the configured pepper) that is all a store ever holds of a secret. */
export type TokenHasher = (secret: string) => string;

export function tokenHasher(pepper: string): TokenHasher {
  // A KeyObject spares createHmac from importing the key on every call.
  const key: KeyObject | string = pepper === '' ? pepper : createSecretKey(Buffer.from(pepper));
  return (secret) => createHmac('sha256', key).update(secret).digest('base64url');
}

/** One-shot crypto.hash is several times cheaper than a Hash object. */
const sha256 = (data: string): string => hash('sha256', data, 'base64url');

/**
 * Remembers the keyed hashes of recently seen secrets, so a cached token
 * costs the request one salted SHA-256 (a one-shot call) instead of an HMAC
 * object. The memo is keyed by that salted digest, never by the secret, so
 * it holds no secret (a connection holds its own last one: see Decider).
 * It forgets everything when full.
 */
export function memoizedHasher(inner: TokenHasher, maxEntries = 10_000): TokenHasher {
  const salt = randomBytes(16).toString('base64');
  const memo = new Map<string, string>();
  return (secret) => {
    const key = sha256(salt + secret);
    let hashed = memo.get(key);
    if (hashed === undefined) {
      hashed = inner(secret);
      if (memo.size >= maxEntries) memo.clear();
      memo.set(key, hashed);
    }
    return hashed;
  };
}
