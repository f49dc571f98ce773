import type { OutgoingHttpHeaders } from 'node:http';
import type { GatehouseError } from '../errors';
import type { RateLimitFields } from '../limits/ratelimit-fields';

/** RFC 6750 challenges, built once per organization. */
export class Challenges {
  readonly missing: string;
  readonly invalid: string;
  readonly scope: string;
  constructor(organization: string) {
    this.missing = `Bearer realm="${organization}"`;
    this.invalid = `${this.missing}, error="invalid_token"`;
    this.scope = `${this.missing}, error="insufficient_scope"`;
  }
}

/** `{"error":…,"message":…,"request_id":` per error code and message, so a refusal stringifies only its id. */
const bodyStarts = new Map<string, { readonly message: string; readonly start: string }>();

function bodyStart(err: GatehouseError): string {
  const cached = bodyStarts.get(err.code);
  if (cached !== undefined && cached.message === err.message) return cached.start;
  const start = `{"error":${JSON.stringify(err.code)},"message":${JSON.stringify(err.message)},"request_id":`;
  if (cached === undefined) bodyStarts.set(err.code, { message: err.message, start });
  return start;
}

/** Status, headers and JSON body for refusing an HTTP request. */
export function refusalResponse(err: GatehouseError, requestId: string, challenges: Challenges): { status: number; headers: OutgoingHttpHeaders; body: string } {
  // The same text as JSON.stringify({ error, message, request_id }).
  const body = `${bodyStart(err)}${JSON.stringify(requestId)}}`;
  const headers: OutgoingHttpHeaders = {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    'x-request-id': requestId,
  };
  if (err.code === 'missing_token') headers['www-authenticate'] = challenges.missing;
  else if (err.code === 'invalid_token') headers['www-authenticate'] = challenges.invalid;
  else if (err.code === 'insufficient_scope') headers['www-authenticate'] = challenges.scope;
  if (err.retryAfter !== undefined) headers['retry-after'] = String(err.retryAfter);
  if (err.rateLimit !== undefined) addRateLimitFields(headers, err.rateLimit);
  return { status: err.httpStatus, headers, body };
}

/** `RateLimit-Policy` and, when the store answered, `RateLimit` (a check that failed open knows no state). */
export function addRateLimitFields(headers: Record<string, unknown>, fields: RateLimitFields): void {
  headers['ratelimit-policy'] = fields.policy;
  if (fields.state !== '') headers.ratelimit = fields.state;
}
