import type { LimitGrant } from './limiter';

/** A response, stream or socket: it closes exactly once, however its exchange ends. */
interface Closable {
  readonly closed: boolean;
  once(event: 'close', listener: () => void): unknown;
}

/**
 * Releases a request's concurrency slot when its response, stream or socket
 * closes: a finished answer, a client abort, an upstream error or a timeout
 * all end there. One already closed (the client left while the decision
 * waited) releases at once.
 */
export function releaseOnClose(target: Closable, grant: LimitGrant | null): void {
  if (grant === null) return;
  if (target.closed) grant.release();
  else target.once('close', () => grant.release());
}
