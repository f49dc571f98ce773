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

/** Digit value of each ASCII code, -1 for characters outside the alphabet. */
const DIGIT = new Int8Array(128).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) DIGIT[ALPHABET.charCodeAt(i)] = i;

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
  const bodyEnd = TOKEN_PREFIX.length + BODY_LENGTH;
  // The checksum digits, read as a number: equal to the CRC exactly when they spell base62(crc, 6).
  let written = 0;
  for (let i = TOKEN_PREFIX.length; i < TOKEN_LENGTH; i++) {
    const c = secret.charCodeAt(i);
    const digit = c < 128 ? DIGIT[c] : -1;
    if (digit < 0) return false;
    if (i >= bodyEnd) written = written * 62 + digit;
  }
  return written === crc32(secret.slice(TOKEN_PREFIX.length, bodyEnd));
}

/** A random opaque identifier with a readable prefix, e.g. `tok_4fK…`. */
export function randomId(prefix: string, length = 16): string {
  let out = prefix;
  for (let i = 0; i < length; i++) out += ALPHABET[randomInt(62)];
  return out;
}
