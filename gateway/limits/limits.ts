import { GatehouseError } from '../errors';

/**
 * Per-token or per-Deployment limits. A key left out means no limit of that
 * kind; a token's own key wins over the Deployment's for that kind.
 */
export interface Limits {
  readonly requestsPerMinute?: number;
  readonly concurrent?: number;
}

/** The largest limit accepted (SPEC §6: positive integers; the issue bounds them at 10^9). */
export const MAX_LIMIT = 1_000_000_000;

/** A problem with a limit value, as a message without the field name: callers name the field their way. */
export function limitProblem(value: unknown): string | null {
  if (typeof value !== 'number' || !Number.isInteger(value)) return 'must be a whole number';
  if (value < 1) return 'must be at least 1';
  if (value > MAX_LIMIT) return `must be at most ${MAX_LIMIT}`;
  return null;
}

function invalid(field: string, problem: string): GatehouseError {
  return new GatehouseError('invalid_field', { message: `${field}: ${problem}`, field });
}

/**
 * A token's `limits` as the admin API takes it: an object with
 * `requests_per_minute` and/or `concurrent` (each a positive integer, or null
 * for none), or null for no limits at all. Answers null when nothing is limited.
 */
export function validateTokenLimits(value: unknown, field = 'limits'): Limits | null {
  if (value === null || value === undefined) return null;
  if (typeof value !== 'object' || Array.isArray(value)) throw invalid(field, 'must be an object with requests_per_minute and/or concurrent, or null');
  const body = value as Record<string, unknown>;
  for (const key of Object.keys(body)) {
    if (key !== 'requests_per_minute' && key !== 'concurrent') throw invalid(`${field}.${key}`, 'unknown field (expected requests_per_minute or concurrent)');
  }
  const out: { requestsPerMinute?: number; concurrent?: number } = {};
  for (const [key, prop] of [['requests_per_minute', 'requestsPerMinute'], ['concurrent', 'concurrent']] as const) {
    const v = body[key];
    if (v === undefined || v === null) continue;
    const problem = limitProblem(v);
    if (problem !== null) throw invalid(`${field}.${key}`, problem);
    out[prop] = v as number;
  }
  return out.requestsPerMinute === undefined && out.concurrent === undefined ? null : out;
}

/** The API's view of limits (snake_case), null when none. */
export function limitsView(limits: Limits | null | undefined): { requests_per_minute: number | null; concurrent: number | null } | null {
  if (limits === null || limits === undefined) return null;
  return { requests_per_minute: limits.requestsPerMinute ?? null, concurrent: limits.concurrent ?? null };
}
