/**
 * The platform's floors for a Node gateway, to read Gatehouse's rows against:
 *   platform-floor.js ORIGIN            node:http in front of one undici Pool, the
 *                                       client's raw headers passed through and
 *                                       nothing else: no routing, decision, header
 *                                       rules, logs or metrics
 *   platform-floor.js --refuse          node:http answering every request with the
 *                                       same 401, headers and JSON body as Gatehouse's
 *                                       refusal of a malformed token, built once
 * Neither is a usable gateway: they show how much of a request's cost is Node's
 * HTTP server, undici and the kernel. Prints `{"port":N}` once listening.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Pool, type Dispatcher } from 'undici';

function proxyTo(origin: string): http.RequestListener {
  const pool = new Pool(origin, { keepAliveTimeout: 60_000 });
  return (req, res) => {
    const handler: Dispatcher.DispatchHandler = {
      onRequestStart: () => undefined,
      onResponseStart: (_controller, status, headers) => { res.writeHead(status, headers); },
      onResponseData: (_controller, chunk) => { res.write(chunk); },
      onResponseEnd: () => { res.end(); },
      onResponseError: () => {
        if (!res.headersSent) res.writeHead(502);
        res.end();
      },
    };
    pool.dispatch({ path: req.url ?? '/', method: req.method ?? 'GET', headers: req.rawHeaders, body: null }, handler);
  };
}

function refuseAll(): http.RequestListener {
  const body = JSON.stringify({ error: 'invalid_token', message: 'the token is malformed, unknown, expired or revoked', request_id: '00000000-0000-4000-8000-000000000000' });
  const headers = {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    'x-request-id': '00000000-0000-4000-8000-000000000000',
    'www-authenticate': 'Bearer realm="bench", error="invalid_token"',
  };
  return (_req, res) => {
    res.writeHead(401, headers);
    res.end(body);
  };
}

const arg = process.argv[2] ?? '--refuse';
const server = http.createServer(arg === '--refuse' ? refuseAll() : proxyTo(arg));
server.keepAliveTimeout = 65_000;
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ port: (server.address() as AddressInfo).port }) + '\n');
});
