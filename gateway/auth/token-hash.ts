import { createHmac } from 'node:crypto';

/** The keyed hash (HMAC-SHA256 with the configured pepper) that is all a store ever holds of a secret. */
export type TokenHasher = (secret: string) => string;

export function tokenHasher(pepper: string): TokenHasher {
  return (secret) => createHmac('sha256', pepper).update(secret).digest('base64url');
}
