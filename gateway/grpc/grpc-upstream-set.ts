import http2, { type ClientHttp2Session } from 'node:http2';
import type { Timeouts } from '../config/schema';

/** How long an upstream that refused a connection is passed over by round robin (as for HTTP). */
const DOWN_FOR_MS = 2_000;
/**
 * Receive windows for upstream sessions. Node's 64 KiB defaults cost a
 * WINDOW_UPDATE round trip per 64 KiB and starve streaming; a paused client
 * still bounds memory, since Node only acknowledges data the gateway has read.
 */
const STREAM_WINDOW = 1024 * 1024;
const SESSION_WINDOW = 16 * 1024 * 1024;

/** The error a session gets when it does not connect within `timeouts.connect`. */
export const CONNECT_TIMEOUT = 'GATEHOUSE_CONNECT_TIMEOUT';

/**
 * One pooled HTTP/2 client session per gRPC upstream (h2c for `http://`,
 * h2 over TLS for `https://`), multiplexing every call to it. A session that
 * receives GOAWAY, closes or fails is forgotten at once and the next call
 * opens a fresh one; sessions are unref'd so they never hold the process open.
 * Upstreams are picked round robin, skipping one that just failed to connect.
 */
export class GrpcUpstreamSet {
  readonly origins: readonly string[];
  private readonly sessions: (ClientHttp2Session | undefined)[];
  private readonly downUntil: number[];
  private next = 0;

  constructor(origins: readonly string[], private readonly timeouts: Timeouts) {
    this.origins = origins;
    this.sessions = origins.map(() => undefined);
    this.downUntil = origins.map(() => 0);
  }

  get size(): number {
    return this.origins.length;
  }

  /** The index of the next upstream, skipping ones that just refused connections while any other is up. */
  pick(): number {
    const n = this.origins.length;
    const now = Date.now();
    for (let i = 0; i < n; i++) {
      const index = (this.next + i) % n;
      if (this.downUntil[index] <= now) {
        this.next = (index + 1) % n;
        return index;
      }
    }
    const index = this.next;
    this.next = (index + 1) % n;
    return index;
  }

  /** The live session to upstream `index`, connecting one if there is none. */
  session(index: number): ClientHttp2Session {
    const current = this.sessions[index];
    if (current !== undefined && !current.closed && !current.destroyed) return current;
    return this.connect(index);
  }

  /** Closes a session that can serve no more calls (its stream ids ran out), letting calls in flight finish. */
  retire(index: number, session: ClientHttp2Session): void {
    if (this.sessions[index] === session) this.sessions[index] = undefined;
    session.close();
  }

  markDown(index: number): void {
    this.downUntil[index] = Date.now() + DOWN_FOR_MS;
  }

  markUp(index: number): void {
    this.downUntil[index] = 0;
  }

  /** Lets calls in flight finish, then closes the sessions. */
  close(): void {
    for (const session of this.sessions) session?.close();
    this.sessions.fill(undefined);
  }

  destroy(): void {
    for (const session of this.sessions) session?.destroy();
    this.sessions.fill(undefined);
  }

  private connect(index: number): ClientHttp2Session {
    const session = http2.connect(this.origins[index], {
      settings: { enablePush: false, initialWindowSize: STREAM_WINDOW },
    });
    this.sessions[index] = session;
    session.unref();
    const forget = (): void => {
      clearTimeout(timer);
      if (this.sessions[index] === session) this.sessions[index] = undefined;
    };
    // Calls on the session see its errors through their own streams; here they only retire it.
    session.on('error', forget);
    session.once('goaway', forget);
    session.once('close', forget);
    const timer = setTimeout(() => {
      session.destroy(Object.assign(new Error(`connect to ${this.origins[index]} timed out`), { code: CONNECT_TIMEOUT }));
    }, this.timeouts.connect);
    timer.unref();
    session.once('connect', () => {
      clearTimeout(timer);
      session.setLocalWindowSize(SESSION_WINDOW);
    });
    // An idle session is closed gracefully; the next call connects again.
    session.setTimeout(this.timeouts.idle, () => session.close());
    return session;
  }
}
