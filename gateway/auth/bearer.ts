/**
 * Extracts the secret from `Authorization: Bearer <secret>` (scheme
 * case-insensitive, RFC 6750). Returns undefined for a missing header and
 * null for one that is present but not a Bearer credential.
 */
export function parseBearer(header: string | undefined): string | null | undefined {
  if (header === undefined) return undefined;
  if (header.length < 8) return null;
  const c = header.charCodeAt(6);
  if (c !== 0x20 && c !== 0x09) return null;
  if (header.slice(0, 6).toLowerCase() !== 'bearer') return null;
  return header.slice(7).trim();
}
