import type { OutgoingHttpHeaders } from 'node:http';
import type { GatehouseError } from '../errors';

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

/** Status, headers and JSON body for refusing an HTTP request. */
export function refusalResponse(err: GatehouseError, requestId: string, challenges: Challenges): { status: number; headers: OutgoingHttpHeaders; body: string } {
  const body = JSON.stringify({ error: err.code, message: err.message, request_id: requestId });
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
  return { status: err.httpStatus, headers, body };
}
