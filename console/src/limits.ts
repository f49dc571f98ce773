import type { Limits } from './api.js';

/** The largest limit the API takes. */
const MAX = 1_000_000_000;

/** A limit input's value: null when empty, else a whole number in range, else the problem to show. */
export function limitValue(input: HTMLInputElement): { value: number | null } | { problem: string } {
  const text = input.value.trim();
  // A number input holding text it cannot parse reports an empty value but bad input.
  if (text === '' && !input.validity.badInput) return { value: null };
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > MAX) return { problem: 'Enter a whole number from 1 to 1,000,000,000, or leave it empty.' };
  return { value: n };
}

/** The API body for two limit values; null when neither is set. */
export function limitsBody(rate: number | null, concurrent: number | null): Limits | null {
  return rate === null && concurrent === null ? null : { requests_per_minute: rate, concurrent };
}

/** `600/min · 4 at once`, or null when the token has none of its own. */
export function describeLimits(limits: Limits | null | undefined): string | null {
  const parts: string[] = [];
  const rate = limits?.requests_per_minute ?? null;
  const concurrent = limits?.concurrent ?? null;
  if (rate !== null) parts.push(`${rate.toLocaleString('en')}/min`);
  if (concurrent !== null) parts.push(`${concurrent.toLocaleString('en')} at once`);
  return parts.length ? parts.join(' · ') : null;
}
