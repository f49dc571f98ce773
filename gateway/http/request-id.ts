import { randomUUID } from 'node:crypto';
import { sensitiveHeaders } from 'node:http2';

const VALID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Keeps a well-formed incoming X-Request-Id (1–128 of `[A-Za-z0-9._:-]`), else makes one. */
export function requestIdFrom(incoming: string | string[] | undefined): string {
  return typeof incoming === 'string' && VALID.test(incoming) ? incoming : randomUUID();
}

const NEVER_INDEXED: readonly string[] = Object.freeze(['x-request-id']);

/**
 * Marks `x-request-id` in HTTP/2 headers as never indexed. A value unique
 * to each message is never sent twice, so indexing it only evicts the
 * fields that repeat (content-type, grpc metadata) from both HPACK tables
 * and makes every later header block bigger to send and decode.
 */
export function neverIndexRequestId<T extends object>(headers: T): T {
  (headers as Record<symbol, readonly string[]>)[sensitiveHeaders] = NEVER_INDEXED;
  return headers;
}
