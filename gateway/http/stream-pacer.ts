import type { Http2Session, IncomingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import type { StreamHandler } from './h2-adapter';

/**
 * New streams one HTTP/2 connection may start in one event-loop turn; the
 * rest start in the following turns, in arrival order (Envoy's
 * `max_requests_per_io_cycle`).
 *
 * Two reasons. Fairness: one connection opening 128 streams at once does not
 * hold the loop while other connections wait. And pipelining: node:http2
 * writes a session's frames once per turn (a SetImmediate), so when one read
 * brings a burst of calls, none reaches the upstream before the gateway has
 * handled the last, and the upstream idles meanwhile; client, gateway and
 * upstream then take turns instead of working at once. Started a few at a
 * time, the first calls' frames leave while the rest are handled.
 */
export const STREAMS_PER_TURN = 8;

interface SessionTurn {
  /** The turn `started` counts for. */
  turn: number;
  started: number;
  /** Streams waiting for a later turn, with their headers, oldest first from `next`. */
  readonly waiting: (ServerHttp2Stream | IncomingHttpHeaders)[];
  /**
   * Where the oldest waiting stream sits. Started streams are not shifted out
   * one by one, which moves every later entry each time (under a burst of
   * calls, about 1 % of a call's instructions); the list is emptied or trimmed at once.
   */
  next: number;
}

/** Started entries kept in front of the waiting ones before they are trimmed off. */
const TRIM_AFTER = 1024;

function ignore(): void {}

/**
 * Starts each new HTTP/2 stream through `handle`, at most `perTurn` per
 * connection per turn. A waiting stream counts as in flight, so a drain waits
 * for it (it is then refused as shutting down, like any stream started late).
 */
export class StreamPacer {
  private turn = 0;
  private turnEnding = false;
  private readonly sessions = new WeakMap<Http2Session, SessionTurn>();
  private readonly backlog = new Set<SessionTurn>();

  constructor(
    private readonly handle: StreamHandler,
    private readonly inflight: { inflight: number },
    private readonly perTurn = STREAMS_PER_TURN,
  ) {}

  readonly onStream: StreamHandler = (stream, headers) => {
    const session = stream.session;
    if (session === undefined) return this.handle(stream, headers);
    let state = this.sessions.get(session);
    if (state === undefined) {
      state = { turn: -1, started: 0, waiting: [], next: 0 };
      this.sessions.set(session, state);
    }
    if (!this.turnEnding) {
      this.turnEnding = true;
      setImmediate(this.nextTurn);
    }
    if (state.turn !== this.turn) {
      state.turn = this.turn;
      state.started = 0;
    }
    if (state.started < this.perTurn && state.next === state.waiting.length) {
      state.started++;
      this.handle(stream, headers);
      return;
    }
    // A client may reset it meanwhile: unheard, the stream's 'error' would end the process.
    stream.on('error', ignore);
    state.waiting.push(stream, headers);
    this.inflight.inflight++;
    this.backlog.add(state);
  };

  private readonly nextTurn = (): void => {
    this.turn++;
    this.turnEnding = false;
    for (const state of this.backlog) {
      state.turn = this.turn;
      state.started = 0;
      const { waiting } = state;
      while (state.next < waiting.length && state.started < this.perTurn) {
        const stream = waiting[state.next] as ServerHttp2Stream;
        const headers = waiting[state.next + 1] as IncomingHttpHeaders;
        state.next += 2;
        state.started++;
        this.inflight.inflight--;
        this.handle(stream, headers);
      }
      if (state.next === waiting.length) {
        waiting.length = 0;
        state.next = 0;
        this.backlog.delete(state);
      } else if (state.next >= TRIM_AFTER) {
        waiting.splice(0, state.next);
        state.next = 0;
      }
    }
    if (this.backlog.size > 0 && !this.turnEnding) {
      this.turnEnding = true;
      setImmediate(this.nextTurn);
    }
  };
}
