import type { IncomingMessage } from 'node:http';
import { Duplex } from 'node:stream';

/** Headers that only make sense if the upgrade were accepted. */
const OFFER_HEADERS = new Set(['upgrade', 'http2-settings']);

/** True for a WebSocket handshake (the one upgrade the gateway accepts). */
export function isWebSocketUpgrade(req: IncomingMessage): boolean {
  const upgrade = req.headers.upgrade;
  return upgrade !== undefined && upgrade.toLowerCase() === 'websocket';
}

/**
 * A client may offer an upgrade the server ignores (RFC 9110 §7.8): `curl
 * --http2 http://…` offers h2c on every request, body and all. Node's parser
 * has already handed the socket over as an upgrade, so the request is
 * replayed, minus the offer, into a fresh HTTP/1.1 parser over the same
 * socket; the body (in `head` and on the socket) is framed by that parser as
 * for any request. The replayed request asks for `Connection: close`.
 */
export function replayWithoutUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Duplex {
  let text = `${req.method} ${req.url} HTTP/1.1\r\n`;
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i].toLowerCase();
    if (name !== 'connection' && !OFFER_HEADERS.has(name)) text += `${raw[i]}: ${raw[i + 1]}\r\n`;
  }
  text += 'Connection: close\r\n\r\n';
  return new ReplayedSocket(socket, head.length === 0 ? Buffer.from(text, 'latin1') : Buffer.concat([Buffer.from(text, 'latin1'), head]));
}

/** True for the stream a request was replayed into after a declined upgrade. */
export function isReplayed(socket: unknown): boolean {
  return socket instanceof ReplayedSocket;
}

/** A socket's stream with some bytes put back in front; reads the peer's address through to the real socket. */
class ReplayedSocket extends Duplex {
  constructor(private readonly socket: Duplex & { remoteAddress?: string; remotePort?: number; encrypted?: boolean }, first: Buffer) {
    super();
    this.push(first);
    socket.on('data', (chunk: Buffer) => {
      if (!this.push(chunk)) socket.pause();
    });
    socket.on('end', () => this.push(null));
    socket.on('error', (err) => this.destroy(err));
    socket.on('close', () => this.destroy());
  }

  get remoteAddress(): string | undefined {
    return this.socket.remoteAddress;
  }

  get remotePort(): number | undefined {
    return this.socket.remotePort;
  }

  /** Progress of the body under it (see endStalledBody). */
  get bytesRead(): number | undefined {
    return (this.socket as Duplex & { bytesRead?: number }).bytesRead;
  }

  get encrypted(): boolean | undefined {
    return this.socket.encrypted;
  }

  override _read(): void {
    this.socket.resume();
  }

  override _write(chunk: Buffer, encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    this.socket.write(chunk, encoding, callback);
  }

  override _final(callback: () => void): void {
    this.socket.end();
    callback();
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    this.socket.destroy();
    callback(err);
  }
}
