/**
 * The child processes of the gRPC benchmark, so each can be pinned to a CPU:
 *   --upstream                 a grpc-js server; prints `{"port":N}` once it listens
 *   --load unary|stream ...    a grpc-js client; prints one JSON result line
 *     [--window BYTES]         the client's HTTP/2 receive window (grpc-js default: 64 KiB)
 * Messages are raw bytes (identity serializers): the benchmark measures the
 * transport, not protobuf.
 */
import * as grpc from '@grpc/grpc-js';
import { parseArgs } from 'node:util';

const identity = (b: Buffer): Buffer => b;
const method = (path: string, responseStream: boolean): grpc.MethodDefinition<Buffer, Buffer> => ({
  path, requestStream: false, responseStream,
  requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity,
});

export const UNARY = method('/gatehouse.bench.Bench/Unary', false);
export const STREAM = method('/gatehouse.bench.Bench/Stream', true);
const SERVICE: grpc.ServiceDefinition = { Unary: UNARY, Stream: STREAM };

/** A small request and answer, like a short inference call. */
const UNARY_REPLY = Buffer.alloc(128, 0x62);
const UNARY_REQUEST = Buffer.alloc(128, 0x61);
const CHUNK = Buffer.alloc(64 * 1024, 0x63);

export interface UnaryResult {
  readonly calls: number;
  /** Calls including the warm-up: what CPU time measured over the whole run divides by. */
  readonly total: number;
  /** CPU seconds this load generator spent on all `total` calls. */
  readonly cpu: number;
  readonly errors: number;
  readonly seconds: number;
  readonly p99ms: number;
}

export interface StreamResult {
  readonly bytes: number;
  /** Bytes including the warm-up. */
  readonly total: number;
  /** CPU seconds this load generator spent on all `total` bytes. */
  readonly cpu: number;
  readonly seconds: number;
  readonly errors: number;
}

function serveUpstream(): void {
  const server = new grpc.Server();
  server.addService(SERVICE, {
    Unary: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => callback(null, UNARY_REPLY),
    // Streams 64 KiB messages with backpressure until the client cancels.
    Stream: (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
      let cancelled = false;
      call.on('cancelled', () => { cancelled = true; });
      const pump = (): void => {
        while (!cancelled) {
          if (!call.write(CHUNK)) {
            call.once('drain', pump);
            return;
          }
        }
      };
      pump();
    },
  });
  server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => {
    if (err) throw err;
    process.stdout.write(JSON.stringify({ port }) + '\n');
  });
}

interface LoadOptions {
  readonly port: number;
  readonly authority: string;
  readonly token: string | undefined;
  readonly seconds: number;
  readonly warmup: number;
  readonly inflight: number;
  readonly window: number | undefined;
}

function client(options: LoadOptions): { client: grpc.Client; metadata: () => grpc.Metadata } {
  const channelOptions: grpc.ChannelOptions = { 'grpc.default_authority': options.authority };
  if (options.window !== undefined) channelOptions['grpc-node.flow_control_window'] = options.window;
  const c = new grpc.Client(`127.0.0.1:${options.port}`, grpc.credentials.createInsecure(), channelOptions);
  const base = new grpc.Metadata();
  if (options.token) base.set('authorization', `Bearer ${options.token}`);
  return { client: c, metadata: () => base.clone() };
}

/** `inflight` loops of back-to-back unary calls; latencies counted after the warm-up. */
function cpuSince(start: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1e6;
}

async function unaryLoad(options: LoadOptions): Promise<UnaryResult> {
  const cpuStart = process.cpuUsage();
  const { client: c, metadata } = client(options);
  const measureFrom = performance.now() + options.warmup * 1000;
  const until = measureFrom + options.seconds * 1000;
  const latencies: number[] = [];
  let errors = 0;
  let total = 0;
  const once = (): Promise<void> => new Promise((resolve) => {
    const started = performance.now();
    c.makeUnaryRequest(UNARY.path, identity, identity, UNARY_REQUEST, metadata(), (err) => {
      const now = performance.now();
      total++;
      if (started >= measureFrom && now <= until) {
        if (err) errors++;
        else latencies.push(now - started);
      }
      resolve();
    });
  });
  const loop = async (): Promise<void> => {
    while (performance.now() < until) await once();
  };
  await Promise.all(Array.from({ length: options.inflight }, loop));
  c.close();
  latencies.sort((a, b) => a - b);
  return { calls: latencies.length, total, cpu: cpuSince(cpuStart), errors, seconds: options.seconds, p99ms: latencies[Math.floor(latencies.length * 0.99)] ?? NaN };
}

/** One server stream read as fast as the path allows; bytes counted after the warm-up, then cancelled. */
async function streamLoad(options: LoadOptions): Promise<StreamResult> {
  const cpuStart = process.cpuUsage();
  const { client: c, metadata } = client(options);
  const call = c.makeServerStreamRequest(STREAM.path, identity, identity, Buffer.alloc(0), metadata());
  let errors = 0;
  let bytes = 0;
  let total = 0;
  let measuring = false;
  call.on('data', (chunk: Buffer) => {
    total += chunk.length;
    if (measuring) bytes += chunk.length;
  });
  call.on('error', (err: grpc.ServiceError) => { if (err.code !== grpc.status.CANCELLED) errors++; });
  await new Promise((resolve) => setTimeout(resolve, options.warmup * 1000));
  measuring = true;
  const started = performance.now();
  await new Promise((resolve) => setTimeout(resolve, options.seconds * 1000));
  measuring = false;
  const seconds = (performance.now() - started) / 1000;
  call.cancel();
  c.close();
  return { bytes, total, cpu: cpuSince(cpuStart), seconds, errors };
}

async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      upstream: { type: 'boolean' },
      load: { type: 'string' },
      port: { type: 'string' },
      authority: { type: 'string', default: 'localhost' },
      token: { type: 'string' },
      seconds: { type: 'string', default: '5' },
      warmup: { type: 'string', default: '1' },
      inflight: { type: 'string', default: '64' },
      window: { type: 'string' },
    },
  });
  if (values.upstream) return serveUpstream();
  const options: LoadOptions = {
    port: Number(values.port),
    authority: values.authority,
    token: values.token,
    seconds: Number(values.seconds),
    warmup: Number(values.warmup),
    inflight: Number(values.inflight),
    window: values.window === undefined ? undefined : Number(values.window),
  };
  const result = values.load === 'stream' ? await streamLoad(options) : await unaryLoad(options);
  process.stdout.write(JSON.stringify(result) + '\n');
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`grpc-roles: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exitCode = 1;
  });
}
