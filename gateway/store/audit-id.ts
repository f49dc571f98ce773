import { randomBytes } from 'node:crypto';

const TIME_DIGITS = 10;
const AUDIT_ID = /^aud_[0-9a-z]{10}[0-9a-f]{8}$/;

/** The time part of an audit id: base 36, zero-padded, so ids sort by time as plain strings. */
function timePart(ms: number): string {
  return Math.max(0, Math.floor(ms)).toString(36).padStart(TIME_DIGITS, '0');
}

/** A new audit event id; a later one sorts after it (the random tail orders events of one millisecond). */
export function auditId(now = Date.now()): string {
  return `aud_${timePart(now)}${randomBytes(4).toString('hex')}`;
}

/** Every id of an event older than `ms` sorts below this string. */
export function auditIdFloor(ms: number): string {
  return `aud_${timePart(ms)}`;
}

/** True for a string `auditId` could have made (a `before` cursor is one). */
export function isAuditId(value: string): boolean {
  return AUDIT_ID.test(value);
}
