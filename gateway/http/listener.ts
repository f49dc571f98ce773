import { readFileSync } from 'node:fs';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import http2, { type Http2Session, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import net, { type Socket } from 'node:net';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';
import type { ListenerConfig } from '../config/schema';
import { closeWhenIdle, trackStream } from './h2-idle';

/** What a listener does with each protocol it speaks. */
export interface ListenerHandlers {
  request(req: IncomingMessage, res: ServerResponse): void;
  upgrade?(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** HTTP/1.1 CONNECT: the handler answers on the socket (without one, Node would drop the connection unanswered). */
  connect?(req: IncomingMessage, socket: Duplex): void;
  stream?(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void;
  /** A request Node's parser refused (it never reaches `request`): logs it; returns the request id for the answer. */
  clientError?(status: number, reason: ClientErrorReason, client: string): string;
}

export type ClientErrorReason = 'bad_request' | 'headers_too_large' | 'request_timeout';

export interface ListenerOptions {
  /** Serve HTTP/2 (h2 via ALPN with TLS, h2c prior knowledge without) besides HTTP/1.1. */
  readonly http2: boolean;
  readonly maxHeaderSize?: number;
  /** ms a connection may sit idle: an HTTP/1.1 keep-alive, an HTTP/2 session with no open stream, a silent new connection. */
  readonly idleTimeout?: number;
  /** ms an HTTP/1.1 request's headers may take to arrive, from its first byte (then 408 and close). */
  readonly requestHeadersTimeout?: number;
  /** Errors of the listening socket once it listens (EMFILE when out of descriptors); unheard, they would end the process. */
  readonly onError?: (err: Error) => void;
}

/** As long as the keep-alive timeouts of common load balancers (60 s), plus a margin, so they close first. */
const IDLE_TIMEOUT = 65_000;

/** SPEC §4 `timeouts.requestHeaders`. */
const REQUEST_HEADERS_TIMEOUT = 30_000;

/** Streams one HTTP/2 connection may have open: RFC 9113 §6.5.2 advises no fewer than 100. */
const MAX_STREAMS = 128;

/** HTTP/2 connection preface: a cleartext connection starting with it is h2c prior knowledge. */
const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n');

const EMPTY = Buffer.alloc(0);

const MALFORMED = [400, 'bad_request'] as const;
const HEADERS_TOO_LARGE = [431, 'headers_too_large'] as const;
const HEADERS_TIMEOUT = [408, 'request_timeout'] as const;

function checkingInterval(headersTimeout: number): number {
  return Math.min(1_000, Math.max(25, Math.floor(headersTimeout / 4)));
}

/** True for a WebSocket handshake (the one upgrade the gateway accepts). */
function isWebSocketUpgrade(req: IncomingMessage): boolean {
  const upgrade = req.headers.upgrade;
  return upgrade !== undefined && upgrade.toLowerCase() === 'websocket';
}

/**
 * One port that serves HTTP/1.1 and HTTP/2 side by side. With TLS, ALPN picks
 * the protocol; without, the first bytes do (the h2c preface or not). Both
 * protocol servers are fed sockets; they never listen themselves.
 */
export class Listener {
  readonly config: ListenerConfig;
  private readonly front: net.Server;
  private readonly h1: http.Server;
  private readonly h2: http2.Http2Server | undefined;
  private readonly sockets = new Set<Socket>();
  private readonly sessions = new Set<Http2Session>();
  private readonly idleTimeout: number;
  private readonly onError: (err: Error) => void;

  constructor(config: ListenerConfig, handlers: ListenerHandlers, options: ListenerOptions) {
    this.config = config;
    this.idleTimeout = options.idleTimeout ?? IDLE_TIMEOUT;
    this.onError = options.onError ?? (() => undefined);
    const headersTimeout = options.requestHeadersTimeout ?? REQUEST_HEADERS_TIMEOUT;
    const onUpgrade = handlers.upgrade;
    // Node's parser stops at an upgrade offer whether or not it is taken up: bytes pipelined behind a declined one
    // are never parsed, and their client would wait for answers that never come. Its connection closes after its answer
    // instead, which tells a pipelining client to send the rest again on a new connection.
    const declined = new WeakSet<IncomingMessage>();
    const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
      if (declined.has(req)) res.shouldKeepAlive = false;
      handlers.request(req, res);
    };
    this.h1 = http.createServer({
      maxHeaderSize: options.maxHeaderSize, requireHostHeader: true, keepAliveTimeout: this.idleTimeout,
      // No limit on a whole request (uploads may take hours), but one on its headers: without the explicit
      // headersTimeout, Node derives it from requestTimeout, and 0 turns it off (a trickled header held forever).
      requestTimeout: 0, headersTimeout,
      // Node checks the deadline on this interval: a quarter of it keeps the overshoot small.
      connectionsCheckingInterval: checkingInterval(headersTimeout),
      // Node keeps only the first of two Authorization or Host headers; joined, they are what they are: malformed.
      joinDuplicateHeaders: true,
      // A WebSocket handshake is the one upgrade taken up. Any other offer (`curl --http2` offers h2c on every
      // request) is declined (RFC 9110 §7.8): the request is served on HTTP/1.1 like any other, body and all.
      shouldUpgradeCallback: (req) => {
        if (onUpgrade !== undefined && isWebSocketUpgrade(req)) return true;
        declined.add(req);
        return false;
      },
    }, onRequest);
    // node:http starts tracking connections (the headers deadline, closeIdleConnections) when it starts listening;
    // this one never listens itself, it is handed sockets.
    this.h1.emit('listening');
    const onConnect = handlers.connect;
    // Without a listener Node destroys a CONNECT's socket unanswered.
    this.h1.on('connect', (req: IncomingMessage, socket: Duplex) => {
      socket.on('error', () => socket.destroy());
      if (onConnect) onConnect(req, socket);
      else socket.end(`HTTP/1.1 405 Method Not Allowed\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
    });
    // Node would answer 100 Continue at once, and a client refused a moment later would already be sending its
    // upload; the handler sends it once the request is allowed (res.writeContinue).
    this.h1.on('checkContinue', onRequest);
    if (onUpgrade) this.h1.on('upgrade', onUpgrade);
    // A malformed request (smuggling shapes, oversized headers) gets a 4xx from Node's parser, never reaches a handler.
    this.h1.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
      // Node's own test: a response already under way must not get a second status line in its middle.
      const inFlight = (socket as Duplex & { _httpMessage?: ServerResponse })._httpMessage;
      if (!socket.writable || inFlight?.headersSent) return socket.destroy();
      const [status, reason] = err.code === 'HPE_HEADER_OVERFLOW' ? HEADERS_TOO_LARGE : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? HEADERS_TIMEOUT : MALFORMED;
      const requestId = handlers.clientError?.(status, reason, (socket as Partial<Socket>).remoteAddress ?? '');
      const id = requestId === undefined ? '' : `x-request-id: ${requestId}\r\n`;
      socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nconnection: close\r\n${id}content-length: 0\r\n\r\n`);
    });

    if (options.http2 && handlers.stream) {
      const h2 = http2.createServer({
        maxSendHeaderBlockLength: options.maxHeaderSize,
        // Node's default is 2^32-1: one connection could hold thousands of upstream requests open at once.
        settings: { enableConnectProtocol: false, maxHeaderListSize: options.maxHeaderSize ?? 16 * 1024, maxConcurrentStreams: MAX_STREAMS },
      });
      const onStream = handlers.stream;
      h2.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, _flags: number, raw: string[]) => {
        trackStream(stream, this.idleTimeout);
        if (headers.authorization !== undefined) joinRepeated(headers, raw, 'authorization');
        onStream(stream, headers);
      });
      h2.on('session', (session) => {
        this.sessions.add(session);
        session.once('close', () => this.sessions.delete(session));
        closeWhenIdle(session, this.idleTimeout);
      });
      this.h2 = h2;
    }

    const dispatch = (socket: Socket): void => this.dispatch(socket);
    if (config.tls) {
      this.front = tls.createServer({
        cert: readFileSync(config.tls.certFile),
        key: readFileSync(config.tls.keyFile),
        ALPNProtocols: this.h2 ? ['h2', 'http/1.1'] : ['http/1.1'],
        // Node's default is 120 s: a silent new connection waits no longer here than it would in cleartext.
        handshakeTimeout: this.idleTimeout,
      });
      this.front.on('secureConnection', dispatch);
      // Node leaves a socket whose handshake timed out open: the listener must end it.
      this.front.on('tlsClientError', (_err: Error, socket: tls.TLSSocket) => socket.destroy());
    } else {
      this.front = net.createServer(dispatch);
    }
    this.front.on('connection', (socket: Socket) => {
      // http.Server would do this for sockets it accepts itself; without it, Nagle holds back small
      // frames (h2 WINDOW_UPDATEs, SSE events) behind unacknowledged data, and full-duplex h2 crawls.
      socket.setNoDelay(true);
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
  }

  private dispatch(socket: Socket): void {
    socket.on('error', () => socket.destroy());
    // ALPN has chosen: the session's own idle timer watches it from here.
    if (this.h2 && socket instanceof tls.TLSSocket && socket.alpnProtocol === 'h2') return this.route(socket, true);
    const sniff = this.h2 !== undefined && !(socket instanceof tls.TLSSocket);
    // Until its first byte no server watches the connection: one that never sends one is closed once idle. The
    // HTTP/1.1 parser starts at that byte, so its headers deadline (requestHeaders) counts from the request's first byte.
    const silent = (): void => void socket.destroy();
    socket.setTimeout(this.idleTimeout, silent);
    let seen: Buffer = EMPTY;
    const onData = (chunk: Buffer): void => {
      seen = seen.length === 0 ? chunk : Buffer.concat([seen, chunk]);
      let isH2 = false;
      if (sniff) {
        const n = Math.min(seen.length, PREFACE.length);
        isH2 = seen.subarray(0, n).equals(PREFACE.subarray(0, n));
        if (isH2 && seen.length < PREFACE.length) return;
      }
      socket.removeListener('data', onData);
      socket.removeListener('timeout', silent);
      socket.setTimeout(0);
      socket.pause();
      socket.unshift(seen);
      this.route(socket, isH2);
    };
    socket.on('data', onData);
  }

  private route(socket: Socket, h2: boolean): void {
    // The h2 session consumes the socket's handle itself (and the bytes already read); the HTTP/1 parser reads the stream.
    if (h2 && this.h2) this.h2.emit('connection', socket);
    else {
      this.h1.emit('connection', socket);
      socket.resume();
    }
  }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.front.once('error', reject);
      this.front.listen(this.config.port, this.config.host, () => {
        this.front.removeListener('error', reject);
        // Out of descriptors, accept fails (libuv drops the connection); the listener goes on once some are freed.
        this.front.on('error', (err: Error) => this.onError(err));
        resolve();
      });
    });
  }

  /** A reloaded `timeouts.requestHeaders`: applies to requests that start from now on. */
  setRequestHeadersTimeout(ms: number): void {
    this.h1.headersTimeout = ms;
  }

  /** The bound port (differs from the config when it asked for port 0). */
  get port(): number {
    const address = this.front.address();
    return typeof address === 'object' && address ? address.port : this.config.port;
  }

  /** The certificate and key for new TLS connections (certificate reload); open ones keep theirs. */
  setSecureContext(pair: { readonly cert: Buffer; readonly key: Buffer }): void {
    if (this.front instanceof tls.Server) this.front.setSecureContext({ cert: pair.cert, key: pair.key });
  }

  /** Stops accepting; idle keep-alive connections close, busy ones finish their requests. */
  stopAccepting(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.front.close(() => resolve()));
    this.h1.closeIdleConnections();
    for (const session of this.sessions) session.close();
    return closed;
  }

  /** Ends every connection now. */
  destroyAll(): void {
    this.h1.closeAllConnections();
    for (const session of this.sessions) session.destroy();
    for (const socket of this.sockets) socket.destroy();
  }
}

/**
 * node:http2 keeps the first of a repeated single-value field and drops the rest; the HTTP/1.1
 * server joins them (joinDuplicateHeaders), which makes two Authorization fields malformed.
 * Joined here too, so both protocols decide alike. `raw` names are lowercase (HTTP/2 requires it).
 */
function joinRepeated(headers: IncomingHttpHeaders, raw: readonly string[], name: string): void {
  let first = -1;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i] !== name) continue;
    if (first === -1) { first = i; continue; }
    let joined = raw[first + 1];
    for (let j = first + 2; j < raw.length; j += 2) if (raw[j] === name) joined += `, ${raw[j + 1]}`;
    headers[name] = joined;
    return;
  }
}
