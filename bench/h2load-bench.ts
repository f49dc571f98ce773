/**
 * The h2load rows of `npm run bench`: gRPC unary calls from a fast client.
 * grpc-js as a client is slow enough to flatter the gateway; h2load is as
 * fast as the C-core and Go clients users run. Each round measures the call
 * straight to the grpc-js upstream and through Gatehouse (protected, cached
 * token, h2c both legs), and Gatehouse's HTTP/1.1 public request (wrk) on the
 * same process, so the gateway's CPU per unary call reads against its CPU per
 * HTTP/1.1 request under the same background load.
 * Runs alone too: `node dist/bench/h2load-bench.js` (BENCH_ROUNDS, BENCH_SECONDS,
 * BENCH_GATEWAY_NODE_ARGS).
 *
 * Placement as in the other sections: the gateway alone on one core; the
 * upstreams, h2load and wrk on the other.
 */
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http2 from 'node:http2';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { cpuSeconds } from './cpu-time';
import { HOST as GRPC_HOST, mintToken } from './grpc-bench';
import { runH2load } from './h2load';
import { placement, readyPort, startNode, waitForPort, writeBenchConfig, type Child } from './processes';
import { median, printRows, type BenchRow } from './table';
import { runWrk } from './wrk';

const CLI = join(resolve(__dirname, '..', '..'), 'bin', 'gatehouse.js');
const UNARY_PATH = '/gatehouse.bench.Bench/Unary';
const PUBLIC_HOST = 'open.bench.localhost';
/** One connection with 64 calls in flight, as the grpc-js rows. */
const STREAMS = 64;
/** The HTTP/1.1 row's wrk settings, as in the HTTP table. */
const WRK_CONNECTIONS = 50;
/** The most the gateway may spend per unary call, in its CPU per HTTP/1.1 public request. */
const TARGET = 2;

export interface H2loadBenchOptions {
  readonly rounds: number;
  readonly seconds: number;
  /** Node flags for the gateway process, e.g. `--cpu-prof`. */
  readonly gatewayNodeArgs: readonly string[];
  readonly log: (line: string) => void;
}

/** A 128-byte request in gRPC's framing (uncompressed flag, 4-byte length), as the grpc-js rows send. */
function unaryBody(dir: string): string {
  const message = Buffer.alloc(128, 0x61);
  const frame = Buffer.alloc(5);
  frame.writeUInt32BE(message.length, 1);
  const file = join(dir, 'unary.bin');
  writeFileSync(file, Buffer.concat([frame, message]));
  return file;
}

/** One call before measuring, so a misconfigured row fails loudly instead of measuring refusals. */
async function checkCall(port: number, headers: http2.OutgoingHttpHeaders, body: string): Promise<void> {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  try {
    const status = await new Promise<string | undefined>((resolveStatus, reject) => {
      const stream = session.request({ ':method': 'POST', ':path': UNARY_PATH, 'content-type': 'application/grpc', te: 'trailers', ...headers });
      let grpcStatus: string | undefined;
      stream.on('response', (h) => { grpcStatus ??= h['grpc-status'] as string | undefined; });
      stream.on('trailers', (h) => { grpcStatus = h['grpc-status'] as string | undefined; });
      stream.on('error', reject);
      stream.on('close', () => resolveStatus(grpcStatus));
      stream.resume();
      stream.end(readFileSync(body));
    });
    if (status !== '0') throw new Error(`gRPC unary check on port ${port}: grpc-status ${status ?? 'missing'}`);
  } finally {
    session.close();
  }
}

interface Round {
  direct: { rps: number; upstreamUs: number; failed: number };
  grpc: { rps: number; gatewayUs: number; failed: number };
  http: { rps: number; gatewayUs: number; p99ms: number; non2xx: number };
}

export async function runH2loadBench(options: H2loadBenchOptions): Promise<BenchRow[]> {
  const where = placement();
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-h2load-bench-'));
  const children: Child[] = [];
  try {
    const grpcUp = startNode({ cpu: where.loadCpu, args: [join(__dirname, 'grpc-roles.js'), '--upstream'] });
    children.push(grpcUp);
    const httpUp = startNode({ cpu: where.loadCpu, args: [join(__dirname, 'upstream-server.js')] });
    children.push(httpUp);
    const grpcPort = await readyPort(grpcUp);
    const httpPort = await readyPort(httpUp);
    const { file, ports } = await writeBenchConfig(join(dir, 'gatehouse.yaml'), {
      store: { driver: 'embedded', path: join(dir, 'gatehouse.db') },
      tokens: { pepper: 'bench-pepper' },
      log: { level: 'warn' },
      deployments: [
        { name: 'model', access: 'protected', protocol: 'grpc', upstreams: [`http://127.0.0.1:${grpcPort}`] },
        { name: 'open', access: 'public', protocol: 'http', upstreams: [`http://127.0.0.1:${httpPort}`] },
      ],
    });
    const token = mintToken(file);
    const devNull = openSync('/dev/null', 'w');
    const gateway = startNode({ cpu: where.proxyCpu, args: [...options.gatewayNodeArgs, CLI, 'serve', '--config', file], stdout: devNull });
    children.push(gateway);
    closeSync(devNull);
    await waitForPort(ports.external);

    const body = unaryBody(dir);
    const authority = [`:authority: ${GRPC_HOST}`];
    const bearer = `authorization: Bearer ${token}`;
    await checkCall(grpcPort, {}, body);
    await checkCall(ports.external, { ':authority': GRPC_HOST, authorization: `Bearer ${token}` }, body);

    const h2load = (port: number, headers: string[], seconds: number) => runH2load({
      url: `http://127.0.0.1:${port}${UNARY_PATH}`, seconds, connections: 1, streams: STREAMS,
      headers: ['content-type: application/grpc', 'te: trailers', ...headers], dataFile: body, cpu: where.loadCpu,
    });
    const wrk = (seconds: number) => runWrk({
      url: `http://127.0.0.1:${ports.external}/`, seconds, connections: WRK_CONNECTIONS, headers: [`Host: ${PUBLIC_HOST}`], cpu: where.loadCpu,
    });
    const perRequestUs = (pid: number, before: number, requests: number): number => ((cpuSeconds(pid) - before) * 1e6) / requests;
    const measure = {
      direct: async (seconds: number): Promise<Round['direct']> => {
        const before = cpuSeconds(grpcUp.pid);
        const r = await h2load(grpcPort, authority, seconds);
        return { rps: r.rps, upstreamUs: perRequestUs(grpcUp.pid, before, r.done), failed: r.failed };
      },
      grpc: async (seconds: number): Promise<Round['grpc']> => {
        const before = cpuSeconds(gateway.pid);
        const r = await h2load(ports.external, [...authority, bearer], seconds);
        return { rps: r.rps, gatewayUs: perRequestUs(gateway.pid, before, r.done), failed: r.failed };
      },
      http: async (seconds: number): Promise<Round['http']> => {
        const before = cpuSeconds(gateway.pid);
        const r = await wrk(seconds);
        return { rps: r.rps, gatewayUs: perRequestUs(gateway.pid, before, r.requests), p99ms: r.p99ms, non2xx: r.non2xx + r.socketErrors };
      },
    };

    options.log('warm-up');
    await measure.direct(1);
    await measure.grpc(1);
    await measure.http(1);
    const loadAtStart = loadavg()[0];
    const rounds: Round[] = [];
    for (let i = 1; i <= options.rounds; i++) {
      // Every other round runs the rows backwards, so a load that drifts during a round favours no row.
      const round: Partial<Round> = {};
      for (const row of i % 2 === 1 ? ['direct', 'grpc', 'http'] as const : ['http', 'grpc', 'direct'] as const) {
        if (row === 'direct') round.direct = await measure.direct(options.seconds);
        else if (row === 'grpc') round.grpc = await measure.grpc(options.seconds);
        else round.http = await measure.http(options.seconds);
      }
      const r = round as Round;
      rounds.push(r);
      options.log(`round ${i}/${options.rounds}: gRPC unary ${r.direct.rps.toFixed(0)} direct, ${r.grpc.rps.toFixed(0)} gatehouse calls/s `
        + `(gateway ${r.grpc.gatewayUs.toFixed(0)} µs CPU/call); HTTP/1.1 public ${r.http.rps.toFixed(0)} req/s (gateway ${r.http.gatewayUs.toFixed(0)} µs CPU/req)`);
    }

    const failed = (n: number): string => (n > 0 ? `; ${n} failed` : '');
    const sum = (f: (r: Round) => number): number => rounds.reduce((s, r) => s + f(r), 0);
    const cpuRatio = median(rounds.map((r) => r.grpc.gatewayUs / r.http.gatewayUs));
    const rpsRatio = median(rounds.map((r) => r.grpc.rps / r.direct.rps));
    const verdict = cpuRatio <= TARGET ? 'ok' : 'MISSED';
    const loadNote = `load average ${loadAtStart.toFixed(1)} -> ${loadavg()[0].toFixed(1)}`;
    return [
      {
        name: 'gRPC unary (h2load), upstream direct', rps: median(rounds.map((r) => r.direct.rps)),
        note: `h2load -c1 -m${STREAMS}, 128 B messages; upstream ${median(rounds.map((r) => r.direct.upstreamUs)).toFixed(0)} µs CPU/call; ${loadNote}${failed(sum((r) => r.direct.failed))}`,
      },
      {
        name: 'gRPC unary (h2load), gatehouse protected', rps: median(rounds.map((r) => r.grpc.rps)),
        note: `cached token, log level warn; ${rpsRatio.toFixed(2)}x direct; gateway ${median(rounds.map((r) => r.grpc.gatewayUs)).toFixed(1)} µs CPU/call`
          + `, ${cpuRatio.toFixed(2)}x its CPU per HTTP/1.1 request (target <= ${TARGET}: ${verdict})${failed(sum((r) => r.grpc.failed))}`,
      },
      {
        name: 'HTTP/1.1 public (wrk), same gatehouse', rps: median(rounds.map((r) => r.http.rps)), p99ms: median(rounds.map((r) => r.http.p99ms)),
        note: `wrk -t1 -c${WRK_CONNECTIONS}, log level warn; gateway ${median(rounds.map((r) => r.http.gatewayUs)).toFixed(1)} µs CPU/req${failed(sum((r) => r.http.non2xx))}`,
      },
    ];
  } finally {
    await Promise.all(children.map((c) => c.stop()));
    rmSync(dir, { recursive: true, force: true });
  }
}

if (require.main === module) {
  const log = (line: string): void => void process.stderr.write(`bench: h2load: ${line}\n`);
  const gatewayNodeArgs = (process.env.BENCH_GATEWAY_NODE_ARGS ?? '').split(' ').filter(Boolean);
  runH2loadBench({ rounds: Number(process.env.BENCH_ROUNDS ?? 3), seconds: Number(process.env.BENCH_SECONDS ?? 5), gatewayNodeArgs, log })
    .then((rows) => printRows('gRPC unary with a fast client (h2load)', rows), (err: unknown) => {
      log(err instanceof Error ? err.message : String(err));
      process.exitCode = 1;
    });
}
