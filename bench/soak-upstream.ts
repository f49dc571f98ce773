/**
 * The soak run's upstream, as its own process so the run can kill and restart
 * it: `node soak-upstream.js HTTP_PORT GRPC_PORT` (0: any) serves
 *   HTTP/1.1  GET /sse (five Server-Sent Events), WebSocket echo, anything else 200 `ok`;
 *   gRPC      /soak.Soak/Unary (echo) and /soak.Soak/Stream (five messages).
 * Prints `{"http":N,"grpc":N}` once both listen.
 */
import * as grpc from '@grpc/grpc-js';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';

const identity = (b: Buffer): Buffer => b;
export const SOAK_UNARY = '/soak.Soak/Unary';
export const SOAK_STREAM = '/soak.Soak/Stream';
export const SSE_EVENTS = 5;
export const STREAM_MESSAGES = 5;

function serveHttp(port: number): Promise<number> {
  const server = http.createServer((req, res) => {
    req.resume();
    if (req.url === '/sse') {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' });
      let sent = 0;
      const tick = setInterval(() => {
        res.write(`data: event ${++sent}\n\n`);
        if (sent === SSE_EVENTS) {
          clearInterval(tick);
          res.end();
        }
      }, 20);
      res.on('close', () => clearInterval(tick));
      return;
    }
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 2 });
      res.end('ok');
    });
  });
  server.keepAliveTimeout = 65_000;
  const wss = new WebSocketServer({ server });
  wss.on('connection', (socket) => socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary })));
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

function serveGrpc(port: number): Promise<number> {
  const server = new grpc.Server();
  const method = (path: string, responseStream: boolean): grpc.MethodDefinition<Buffer, Buffer> => ({
    path, requestStream: false, responseStream,
    requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity,
  });
  server.addService({ Unary: method(SOAK_UNARY, false), Stream: method(SOAK_STREAM, true) }, {
    Unary: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => callback(null, call.request),
    Stream: (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
      for (let i = 0; i < STREAM_MESSAGES; i++) call.write(Buffer.from(`message ${i}`));
      call.end();
    },
  });
  return new Promise((resolve, reject) => server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err, bound) => {
    if (err) reject(err);
    else resolve(bound);
  }));
}

if (require.main === module) {
  void Promise.all([serveHttp(Number(process.argv[2] ?? 0)), serveGrpc(Number(process.argv[3] ?? 0))]).then(([httpPort, grpcPort]) => {
    process.stdout.write(JSON.stringify({ http: httpPort, grpc: grpcPort }) + '\n');
  });
}
