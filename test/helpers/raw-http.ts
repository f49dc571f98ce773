import net from 'node:net';
import http2 from 'node:http2';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FIXTURES } from './gateway';

export interface RawReply {
  /** Status of the first final (non-1xx) response, 0 if none arrived. */
  readonly status: number;
  /** Everything the server sent, as text. */
  readonly text: string;
  /** True when the server closed the connection (rather than the timeout ending the wait). */
  readonly closed: boolean;
}

/**
 * Writes bytes as they are on a fresh TCP connection and collects the answer
 * until the server closes or `waitMs` passes. For header names and framing
 * that Node's clients refuse to send.
 */
export function rawRequest(port: number, bytes: string | Buffer, waitMs = 2_000): Promise<RawReply> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let text = '';
    let closed = false;
    const finish = (): void => {
      clearTimeout(timer);
      socket.destroy();
      const finals = [...text.matchAll(/^HTTP\/1\.1 (\d{3})/gm)].map((m) => Number(m[1])).filter((s) => s >= 200);
      resolve({ status: finals[0] ?? 0, text, closed });
    };
    const timer = setTimeout(finish, waitMs);
    socket.on('data', (d: Buffer) => { text += d.toString('latin1'); });
    socket.on('error', () => undefined);
    socket.on('close', () => { closed = true; finish(); });
    socket.write(bytes);
  });
}

/** The body of the last response in a raw reply, de-chunked when it was sent chunked. */
export function rawBody(reply: RawReply): string {
  const start = reply.text.lastIndexOf('HTTP/1.1 ');
  const at = reply.text.indexOf('\r\n\r\n', start);
  if (at === -1) return '';
  const head = reply.text.slice(start, at);
  let rest = reply.text.slice(at + 4);
  if (!/\r\ntransfer-encoding: chunked/i.test(head)) return rest;
  let body = '';
  for (;;) {
    const eol = rest.indexOf('\r\n');
    const size = parseInt(rest.slice(0, eol), 16);
    if (eol === -1 || !(size > 0)) return body;
    body += rest.slice(eol + 2, eol + 2 + size);
    rest = rest.slice(eol + 4 + size);
  }
}

export interface H2Reply {
  readonly status: number;
  readonly headers: http2.IncomingHttpHeaders;
  readonly body: Buffer;
  json<T = Record<string, unknown>>(): T;
}

/** The test CA, for clients that verify the gateway's certificate. */
export const CA = readFileSync(join(FIXTURES, 'tls', 'ca.crt'));

/** One HTTP/2 request on its own session (h2c prior knowledge for http://, ALPN h2 for https://). */
export async function h2Request(
  origin: string,
  headers: http2.OutgoingHttpHeaders,
  body?: string | Buffer,
): Promise<H2Reply> {
  const session = http2.connect(origin, { ca: CA, servername: 'localhost' });
  try {
    return await new Promise<H2Reply>((resolve, reject) => {
      session.once('error', reject);
      const stream = session.request({ ':method': body === undefined ? 'GET' : 'POST', ':path': '/', ...headers }, { endStream: body === undefined });
      const chunks: Buffer[] = [];
      let head: http2.IncomingHttpHeaders = {};
      stream.on('response', (h) => { head = h; });
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const data = Buffer.concat(chunks);
        resolve({ status: Number(head[':status']), headers: head, body: data, json: <T>() => JSON.parse(data.toString()) as T });
      });
      stream.on('error', reject);
      if (body !== undefined) stream.end(body);
    });
  } finally {
    session.close();
  }
}
