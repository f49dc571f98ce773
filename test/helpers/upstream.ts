import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Teardown } from './gateway';
import { freePort } from './ports';

export interface SeenRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly rawHeaders: string[];
}

export interface TestUpstream {
  readonly url: string;
  readonly port: number;
  readonly server: http.Server;
  /** Every request the upstream received, in order. */
  readonly requests: SeenRequest[];
  /** How many requests were aborted by the peer (the gateway) before the response ended. */
  aborted(): number;
  close(): Promise<void>;
}

export type UpstreamHandler = (req: IncomingMessage, res: ServerResponse) => void;

/** Answers JSON describing the request (method, url, headers, body length). */
export const echoHandler: UpstreamHandler = (req, res) => {
  let length = 0;
  req.on('data', (c: Buffer) => { length += c.length; });
  req.on('end', () => {
    const body = JSON.stringify({ method: req.method, url: req.url, headers: req.headers, bodyLength: length });
    res.writeHead(200, { 'content-type': 'application/json', 'x-upstream': 'echo' });
    res.end(body);
  });
};

/** A real HTTP/1.1 upstream on an ephemeral port, closed at teardown. */
export async function startUpstream(t: Teardown, handler: UpstreamHandler = echoHandler): Promise<TestUpstream> {
  const requests: SeenRequest[] = [];
  let aborted = 0;
  const server = http.createServer((req, res) => {
    requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, rawHeaders: req.rawHeaders });
    res.on('close', () => { if (!res.writableFinished) aborted++; });
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  t.teardown(close);
  return { url: `http://127.0.0.1:${port}`, port, server, requests, aborted: () => aborted, close };
}

/** The URL of a port nothing listens on: connections to it are refused. */
export async function refusingUrl(): Promise<string> {
  return `http://127.0.0.1:${await freePort()}`;
}

/**
 * A WebSocket upstream on an ephemeral port: a plain request gets 426, each
 * accepted WebSocket goes to `onConnection` (by default it echoes).
 */
export async function startWsUpstream(
  t: Teardown,
  onConnection: (socket: WebSocket, req: IncomingMessage) => void = (socket) => socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary })),
): Promise<{ url: string; wss: WebSocketServer }> {
  const server = http.createServer((_req, res) => res.writeHead(426).end());
  const wss = new WebSocketServer({ server });
  wss.on('connection', onConnection);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const client of wss.clients) client.terminate();
    wss.close();
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, wss };
}
