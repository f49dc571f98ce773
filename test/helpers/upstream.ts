import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import type { Teardown } from './gateway';

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
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}
