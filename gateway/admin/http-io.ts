import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { GatehouseError } from '../errors';
import type { Challenges } from '../http/refusal';

/** The largest admin API request body accepted; a Deployment or token is a few hundred bytes. */
export const MAX_BODY_BYTES = 1024 * 1024;

/**
 * On every admin listener answer: an error body echoes the request path, so
 * no browser may sniff one as a page, and no other site may frame any of them.
 */
export const NO_SNIFF_NO_FRAMING: Readonly<Record<string, string>> = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
};

/** Writes a JSON answer that no cache may keep (it may describe tokens). */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: OutgoingHttpHeaders = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { ...NO_SNIFF_NO_FRAMING, 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store', ...headers });
  res.end(text);
}

/**
 * Answers with the SPEC's error body `{"error","message","request_id"}`,
 * plus `field` for a validation error so a form can show it in place.
 */
export function sendError(res: ServerResponse, err: GatehouseError, requestId: string, challenges: Challenges, headers: OutgoingHttpHeaders = {}): void {
  const body: Record<string, string> = { error: err.code, message: err.message, request_id: requestId };
  if (err.field !== undefined) body.field = err.field;
  const extra: OutgoingHttpHeaders = { 'x-request-id': requestId, ...headers };
  if (err.code === 'missing_token') extra['www-authenticate'] = challenges.missing;
  else if (err.code === 'invalid_token') extra['www-authenticate'] = challenges.invalid;
  else if (err.code === 'forbidden') extra['www-authenticate'] = challenges.scope;
  if (err.retryAfter !== undefined) extra['retry-after'] = String(err.retryAfter);
  // An unread body would be taken for the next request on this connection.
  if (err.code === 'payload_too_large') extra.connection = 'close';
  sendJson(res, err.httpStatus, body, extra);
}

function tooLarge(limit: number): GatehouseError {
  return new GatehouseError('payload_too_large', { message: `the request body is larger than ${limit} bytes` });
}

/**
 * Reads a JSON request body of at most `limit` bytes. An empty body is
 * `undefined`; anything that is not JSON is a 400 naming `body`.
 */
export function readJson(req: IncomingMessage, limit = MAX_BODY_BYTES): Promise<unknown> {
  if (Number(req.headers['content-length']) > limit) return Promise.reject(tooLarge(limit));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size <= limit) return void chunks.push(chunk);
      // Stop reading without destroying the request: the 413 still has to reach the client.
      req.off('data', onData).off('end', onEnd).pause();
      reject(tooLarge(limit));
    };
    const onEnd = (): void => {
      if (size === 0) return resolve(undefined);
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown);
      } catch {
        reject(new GatehouseError('bad_request', { message: 'body: must be JSON', field: 'body' }));
      }
    };
    req.on('data', onData).on('end', onEnd).once('error', reject);
  });
}

/** A JSON object body, or a 400 naming `body`. */
export function objectBody(value: unknown): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new GatehouseError('invalid_field', { message: 'body: must be a JSON object', field: 'body' });
  }
  return value as Record<string, unknown>;
}

/** Refuses keys a body may not have, naming the first one. */
export function onlyKeys(body: Record<string, unknown>, allowed: readonly string[]): void {
  for (const key of Object.keys(body)) {
    if (!allowed.includes(key)) {
      throw new GatehouseError('invalid_field', { message: `${key}: unknown field (expected one of ${allowed.join(', ')})`, field: key });
    }
  }
}
