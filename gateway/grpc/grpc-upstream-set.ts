import http2, { type ClientHttp2Session } from 'node:http2';
import type { Timeouts } from '../config/schema';
import { RoundRobin } from '../routing/round-robin';

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
export class GrpcUpstreamSet extends RoundRobin {
  private readonly sessions: (ClientHttp2Session | undefined)[];

  constructor(origins: readonly string[], private readonly timeouts: Timeouts) {
    super(origins);
    this.sessions = origins.map(() => undefined);
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
