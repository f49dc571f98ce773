import { randomInt } from 'node:crypto';
import { crc32 } from 'node:zlib';

/**
 * Secrets look like `gth_` + 30 random base62 characters + 6 base62
 * characters of the CRC32 of those 30. The checksum lets the gateway refuse a
 * mistyped or made-up secret without asking the store.
 */
export const TOKEN_PREFIX = 'gth_';
export const TOKEN_LENGTH = 40;
const BODY_LENGTH = 30;
const CHECKSUM_LENGTH = 6;
const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

const IS_BASE62 = new Uint8Array(128);
for (let i = 0; i < ALPHABET.length; i++) IS_BASE62[ALPHABET.charCodeAt(i)] = 1;

export function base62(value: number, width: number): string {
  let out = '';
  for (let i = 0; i < width; i++) {
    out = ALPHABET[value % 62] + out;
    value = Math.floor(value / 62);
  }
  return out;
}

function checksum(body: string): string {
  return base62(crc32(body), CHECKSUM_LENGTH);
}

/** A fresh random secret (crypto-strong, about 178 bits). */
export function generateSecret(): string {
  let body = '';
  for (let i = 0; i < BODY_LENGTH; i++) body += ALPHABET[randomInt(62)];
  return TOKEN_PREFIX + body + checksum(body);
}

/** True when the secret has the right prefix, length, alphabet and checksum. */
export function isWellFormed(secret: string): boolean {
  if (secret.length !== TOKEN_LENGTH || !secret.startsWith(TOKEN_PREFIX)) return false;
  for (let i = TOKEN_PREFIX.length; i < TOKEN_LENGTH; i++) {
    const c = secret.charCodeAt(i);
    if (c >= 128 || IS_BASE62[c] === 0) return false;
  }
  const body = secret.slice(TOKEN_PREFIX.length, TOKEN_PREFIX.length + BODY_LENGTH);
  return secret.endsWith(checksum(body));
}

/** A random opaque identifier with a readable prefix, e.g. `tok_4fK…`. */
export function randomId(prefix: string, length = 16): string {
  let out = prefix;
  for (let i = 0; i < length; i++) out += ALPHABET[randomInt(62)];
  return out;
}
