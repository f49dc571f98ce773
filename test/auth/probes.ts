import type { Test } from 'tap';
import { Agent, request } from 'undici';
import type { Gateway } from '../../gateway/gateway';
import type { Reply } from '../helpers/http';

/**
 * Counts the gateway's token reads by wrapping its real store's
 * `findTokenByHash` (the hot path's only store call). An optional `gate` is
 * awaited before each read is answered, so a test can hold reads in flight.
 */
export function countStoreReads(gateway: Gateway, gate?: () => Promise<void>): () => number {
  const store = gateway.runtime.store;
  const original = store.findTokenByHash.bind(store);
  let reads = 0;
  store.findTokenByHash = async (hash) => {
    reads++;
    if (gate) await gate();
    return original(hash);
  };
  return () => reads;
}

/** One HTTP/1.1 request on a fresh connection, optionally from a chosen local address (any 127.0.0.0/8 works on Linux). */
export async function send(url: string, headers: Record<string, string>, localAddress?: string): Promise<Reply> {
  const agent = new Agent({ pipelining: 0, ...(localAddress ? { localAddress } : {}) });
  try {
    const res = await request(url, { headers, dispatcher: agent });
    const text = await res.body.text();
    return { status: res.statusCode, headers: res.headers, text, json: <T>() => JSON.parse(text) as T };
  } finally {
    await agent.close();
  }
}

export interface Refusal {
  readonly status: number;
  readonly code: string;
  /** The exact `WWW-Authenticate` value, or null when there must be none. */
  readonly challenge: string | null;
}

/** Asserts an HTTP refusal: status, JSON body `{error, message, request_id}`, challenge. */
export function expectRefusal(t: Test, reply: Reply, want: Refusal, what: string): void {
  t.equal(reply.status, want.status, `${what}: status`);
  t.match(reply.headers['content-type'], /^application\/json/, `${what}: JSON body`);
  let body: Record<string, unknown> = {};
  try {
    body = reply.json();
  } catch {
    t.fail(`${what}: body is not JSON: ${reply.text}`);
  }
  t.same(Object.keys(body).sort(), ['error', 'message', 'request_id'], `${what}: body fields`);
  t.equal(body.error, want.code, `${what}: error code`);
  t.equal(body.request_id, reply.headers['x-request-id'], `${what}: request id in body and header`);
  t.equal(reply.headers['www-authenticate'] ?? null, want.challenge, `${what}: WWW-Authenticate`);
}

/** Retries `probe` until `done` holds; resolves with the time it took, rejects past `timeoutMs`. */
export async function until<T>(probe: () => Promise<T>, done: (value: T) => boolean, timeoutMs: number): Promise<number> {
  const start = Date.now();
  for (;;) {
    const value = await probe();
    if (done(value)) return Date.now() - start;
    if (Date.now() - start > timeoutMs) throw new Error(`condition not met within ${timeoutMs} ms; last value: ${JSON.stringify(value)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
