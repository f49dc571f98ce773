import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { readFileSync } from 'node:fs';
import http2, { type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2';
import { join } from 'node:path';
import { FIXTURES, type Teardown } from './gateway';

export const CA = readFileSync(join(FIXTURES, 'tls', 'ca.crt'));
const SERVER_CERT = readFileSync(join(FIXTURES, 'tls', 'server.crt'));
const SERVER_KEY = readFileSync(join(FIXTURES, 'tls', 'server.key'));

export interface EchoRequest {
  text?: string;
  count?: number;
  size?: number;
  delayMs?: number;
  failCode?: number;
}

export interface EchoReply {
  text: string;
  payload: Buffer;
  upstream: string;
  index: number;
}

type Callback<T> = (err: grpc.ServiceError | null, value?: T) => void;

/** The Echo service client (test/fixtures/echo.proto), typed. */
export interface EchoClient extends grpc.Client {
  Unary(req: EchoRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: Callback<EchoReply>): grpc.ClientUnaryCall;
  ClientStream(metadata: grpc.Metadata, options: grpc.CallOptions, callback: Callback<EchoReply>): grpc.ClientWritableStream<EchoRequest>;
  ServerStream(req: EchoRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<EchoReply>;
  Bidi(metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientDuplexStream<EchoRequest, EchoReply>;
}

const definition = protoLoader.loadSync(join(FIXTURES, 'echo.proto'), { defaults: true });
const loaded = grpc.loadPackageDefinition(definition) as unknown as {
  gatehouse: { test: { Echo: grpc.ServiceClientConstructor } };
};
const EchoService = loaded.gatehouse.test.Echo;

/** A call as the upstream saw it. */
export interface SeenCall {
  readonly method: string;
  /** Metadata keys and their (first) values; binary values as base64. */
  readonly metadata: Record<string, string>;
  cancelled: boolean;
}

export interface GrpcUpstream {
  readonly name: string;
  readonly port: number;
  /** `http://127.0.0.1:port` (h2c) or `https://…` with TLS: what a Deployment's `upstreams` lists. */
  readonly url: string;
  readonly calls: SeenCall[];
  close(): void;
}

function seen(method: string, call: { metadata: grpc.Metadata; on(event: 'cancelled', fn: () => void): unknown }, calls: SeenCall[]): SeenCall {
  const metadata: Record<string, string> = {};
  for (const [key, value] of Object.entries(call.metadata.getMap())) metadata[key] = Buffer.isBuffer(value) ? value.toString('base64') : value;
  const entry: SeenCall = { method, metadata, cancelled: false };
  calls.push(entry);
  call.on('cancelled', () => { entry.cancelled = true; });
  return entry;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * A grpc-js Echo server on 127.0.0.1 (h2c, or TLS with the test certificate).
 * It sends initial metadata `x-upstream: <name>` and trailing metadata
 * `x-trailer: done`, and records every call's metadata and cancellation.
 */
export async function startGrpcUpstream(t: Teardown, options: { name?: string; tls?: boolean; port?: number } = {}): Promise<GrpcUpstream> {
  const name = options.name ?? 'echo';
  const calls: SeenCall[] = [];
  const initial = (): grpc.Metadata => { const md = new grpc.Metadata(); md.set('x-upstream', name); return md; };
  const trailing = (): grpc.Metadata => { const md = new grpc.Metadata(); md.set('x-trailer', 'done'); return md; };
  const server = new grpc.Server();
  server.addService(EchoService.service, {
    Unary: (call: grpc.ServerUnaryCall<EchoRequest, EchoReply>, callback: grpc.sendUnaryData<EchoReply>) => {
      const entry = seen('Unary', call, calls);
      const req = call.request;
      if (req.failCode) return callback({ code: req.failCode, details: 'upstream says no' });
      const answer = (): void => {
        if (entry.cancelled) return;
        call.sendMetadata(initial());
        callback(null, { text: req.text ?? '', payload: Buffer.alloc(0), upstream: name, index: 0 }, trailing());
      };
      if (req.delayMs) void sleep(req.delayMs).then(answer);
      else answer();
    },
    ClientStream: (call: grpc.ServerReadableStream<EchoRequest, EchoReply>, callback: grpc.sendUnaryData<EchoReply>) => {
      seen('ClientStream', call, calls);
      const texts: string[] = [];
      call.on('data', (req: EchoRequest) => texts.push(req.text ?? ''));
      call.on('end', () => {
        call.sendMetadata(initial());
        callback(null, { text: texts.join(','), payload: Buffer.alloc(0), upstream: name, index: texts.length }, trailing());
      });
    },
    ServerStream: (call: grpc.ServerWritableStream<EchoRequest, EchoReply>) => {
      const entry = seen('ServerStream', call, calls);
      void (async () => {
        const { count = 0, size = 0, text = '', delayMs = 0 } = call.request;
        call.sendMetadata(initial());
        const payload = Buffer.alloc(size, 0x61);
        for (let index = 0; index < count && !entry.cancelled; index++) {
          if (delayMs) await sleep(delayMs);
          if (!call.write({ text, payload, upstream: name, index })) {
            await new Promise<void>((resolve) => { call.once('drain', resolve); call.once('cancelled', resolve); });
          }
        }
        if (!entry.cancelled) call.end(trailing());
      })();
    },
    Bidi: (call: grpc.ServerDuplexStream<EchoRequest, EchoReply>) => {
      seen('Bidi', call, calls);
      call.sendMetadata(initial());
      let index = 0;
      call.on('data', (req: EchoRequest) => call.write({ text: req.text ?? '', payload: Buffer.alloc(0), upstream: name, index: index++ }));
      call.on('end', () => call.end(trailing()));
    },
  });
  const credentials = options.tls
    ? grpc.ServerCredentials.createSsl(null, [{ cert_chain: SERVER_CERT, private_key: SERVER_KEY }])
    : grpc.ServerCredentials.createInsecure();
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`127.0.0.1:${options.port ?? 0}`, credentials, (err, bound) => (err ? reject(err) : resolve(bound)));
  });
  let closed = false;
  const close = (): void => {
    if (closed) return;
    closed = true;
    server.forceShutdown();
  };
  t.teardown(close);
  return { name, port, url: `${options.tls ? 'https' : 'http'}://127.0.0.1:${port}`, calls, close };
}

/** Call credentials the way users add them: an `authorization: Bearer …` metadata generator. */
export function bearerCredentials(secret: string): grpc.CallCredentials {
  return grpc.credentials.createFromMetadataGenerator((_params, callback) => callback(null, bearer(secret)));
}

/** Metadata carrying a Bearer token (for h2c channels, where grpc-js refuses call credentials). */
export function bearer(secret: string): grpc.Metadata {
  const md = new grpc.Metadata();
  md.set('authorization', `Bearer ${secret}`);
  return md;
}

/**
 * An Echo client for `host` (a Deployment's host) through `port` on
 * 127.0.0.1: TLS with the test CA, the server name and `:authority` set to
 * `host`, and the token (if any) as call credentials; or h2c.
 */
export function echoClient(t: Teardown, port: number, host: string, options: { tls: boolean; token?: string }): EchoClient {
  let credentials = options.tls ? grpc.credentials.createSsl(CA) : grpc.credentials.createInsecure();
  if (options.token !== undefined) credentials = grpc.credentials.combineChannelCredentials(credentials, bearerCredentials(options.token));
  const client = new EchoService(`127.0.0.1:${port}`, credentials, {
    'grpc.ssl_target_name_override': host,
    'grpc.default_authority': host,
  }) as unknown as EchoClient;
  t.teardown(() => client.close());
  return client;
}

/** The outcome of a unary call: the reply or the error, and the metadata both ways. */
export interface UnaryOutcome {
  readonly reply?: EchoReply;
  readonly error?: grpc.ServiceError;
  readonly code: number;
  readonly headers: grpc.Metadata | undefined;
  readonly trailers: grpc.Metadata | undefined;
}

/** Runs one unary call and never rejects: refusals are outcomes to assert. */
export function unary(client: EchoClient, req: EchoRequest, metadata = new grpc.Metadata(), options: grpc.CallOptions = {}): Promise<UnaryOutcome> {
  return new Promise((resolve) => {
    let headers: grpc.Metadata | undefined;
    let reply: EchoReply | undefined;
    let error: grpc.ServiceError | undefined;
    const call = client.Unary(req, metadata, options, (err, value) => {
      error = err ?? undefined;
      reply = value;
    });
    call.on('metadata', (md) => { headers = md; });
    call.on('status', (status) => resolve({ reply, error, code: status.code, headers, trailers: status.metadata }));
  });
}

/** Reads a server stream to its end; resolves with the status and what arrived. */
export function drain<T>(call: grpc.ClientReadableStream<T> | grpc.ClientDuplexStream<unknown, T>): Promise<{ code: number; details: string; items: T[]; headers?: grpc.Metadata; trailers: grpc.Metadata }> {
  return new Promise((resolve) => {
    const items: T[] = [];
    let headers: grpc.Metadata | undefined;
    call.on('metadata', (md) => { headers = md; });
    call.on('data', (item: T) => items.push(item));
    call.on('error', () => undefined);
    call.on('status', (status) => resolve({ code: status.code, details: status.details, items, headers, trailers: status.metadata }));
  });
}

/** One gRPC call at the HTTP/2 frame level: what a client's transport sees. */
export interface RawGrpcReply {
  readonly headers: IncomingHttpHeaders;
  /** True when the response was one HEADERS frame that ended the stream (trailers-only). */
  readonly trailersOnly: boolean;
  readonly trailers: IncomingHttpHeaders | undefined;
  readonly body: Buffer;
}

/** An empty protobuf message in gRPC framing (no compression, length 0). */
export const EMPTY_MESSAGE = Buffer.alloc(5);

/** Sends one raw gRPC call (h2c or TLS with the test CA) and collects the reply frames. */
export async function rawGrpcCall(origin: string, headers: OutgoingHttpHeaders, body: Buffer = EMPTY_MESSAGE): Promise<RawGrpcReply> {
  const session = http2.connect(origin, { ca: CA, servername: typeof headers[':authority'] === 'string' ? headers[':authority'] : undefined });
  session.on('error', () => undefined);
  try {
    return await new Promise<RawGrpcReply>((resolve, reject) => {
      const stream = session.request({ ':method': 'POST', 'content-type': 'application/grpc', te: 'trailers', ...headers });
      let responseHeaders: IncomingHttpHeaders = {};
      let trailersOnly = false;
      let trailers: IncomingHttpHeaders | undefined;
      const chunks: Buffer[] = [];
      stream.on('response', (h, flags) => {
        responseHeaders = h;
        trailersOnly = (flags & http2.constants.NGHTTP2_FLAG_END_STREAM) !== 0;
      });
      stream.on('trailers', (h) => { trailers = h; });
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('error', reject);
      stream.on('close', () => resolve({ headers: responseHeaders, trailersOnly, trailers, body: Buffer.concat(chunks) }));
      stream.end(body);
    });
  } finally {
    session.close();
  }
}

/** Polls until `check` holds (or throws after `ms`). */
export async function until(check: () => boolean, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(10);
  }
}
