import { MAX_LIMIT } from '../limits/limits';
import { UsageError } from './args';

/** A token's limits as the admin API takes them; null for a kind removes it. */
export interface LimitsJson {
  requests_per_minute?: number | null;
  concurrent?: number | null;
}

const PER_MINUTE: Readonly<Record<string, number>> = { s: 60, sec: 60, m: 1, min: 1, h: 1 / 60, hr: 1 / 60 };

/**
 * `--rate`: `N/s`, `N/m` (or `N/min`), `N/h`, or a bare `N` per minute, as
 * requests per minute. Per hour must come to a whole number per minute
 * (the limit is kept per minute): `600/h` is 10/m, `100/h` is refused.
 */
export function parseRate(text: string): number {
  const match = /^(\d+)(?:\/(s|sec|m|min|h|hr))?$/.exec(text.trim());
  if (match === null) throw new UsageError(`--rate must be like 600/m, 10/s or 3600/h (got "${text}")`);
  const perMinute = Number(match[1]) * PER_MINUTE[match[2] ?? 'm'];
  if (!Number.isInteger(perMinute)) throw new UsageError(`--rate ${text} is not a whole number of requests per minute`);
  return checked(perMinute, '--rate', text);
}

export function parseConcurrent(text: string): number {
  if (!/^\d+$/.test(text.trim())) throw new UsageError(`--concurrent must be a whole number (got "${text}")`);
  return checked(Number(text), '--concurrent', text);
}

function checked(value: number, flag: string, text: string): number {
  if (value < 1 || value > MAX_LIMIT) throw new UsageError(`${flag} must come to between 1 and ${MAX_LIMIT} (got "${text}")`);
  return value;
}

/** `--rate` and `--concurrent` as given (`none` removes one, where `allowNone`); undefined when neither is. */
export function limitsFromFlags(rate: string | undefined, concurrent: string | undefined, allowNone: boolean): LimitsJson | undefined {
  if (rate === undefined && concurrent === undefined) return undefined;
  const out: LimitsJson = {};
  const none = (value: string): boolean => allowNone && value === 'none';
  if (rate !== undefined) out.requests_per_minute = none(rate) ? null : parseRate(rate);
  if (concurrent !== undefined) out.concurrent = none(concurrent) ? null : parseConcurrent(concurrent);
  return out;
}

/** `600/m, 4 concurrent`, or `-`. */
export function describeLimits(limits: unknown): string {
  const l = (limits ?? {}) as LimitsJson;
  const parts: string[] = [];
  if (typeof l.requests_per_minute === 'number') parts.push(`${l.requests_per_minute}/m`);
  if (typeof l.concurrent === 'number') parts.push(`${l.concurrent} concurrent`);
  return parts.length ? parts.join(', ') : '-';
}
