/**
 * The gRPC rows of `npm run bench`: unary calls/s and p99 at 64 calls in
 * flight, and server-stream MB/s, straight to a grpc-js upstream and through
 * Gatehouse (protected Deployment, cached token, h2c on both legs), in one run.
 * Runs alone too: `node dist/bench/grpc-bench.js` (BENCH_SECONDS, default 5).
 *
 * Placement as in the HTTP benchmark: the gateway alone on one core, the
 * upstream and the load generator on the other.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { cpuSeconds } from './cpu-time';
import type { StreamResult, UnaryResult } from './grpc-roles';
import { placement, readyPort, startNode, waitForPort, writeBenchConfig, type Child } from './processes';
import { median, printRows, type BenchRow } from './table';

export type { BenchRow } from './table';

const ROOT = resolve(__dirname, '..', '..');
const CLI = join(ROOT, 'bin', 'gatehouse.js');
const ROLES = join(__dirname, 'grpc-roles.js');
const HOST = 'model.bench.localhost';
/** Rounds per row, alternating direct and gateway so background noise hits both alike. */
const ROUNDS = 3;
const INFLIGHT = 64;

function log(line: string): void {
  process.stderr.write(`bench: grpc: ${line}\n`);
}

async function writeConfig(dir: string, upstreamPort: number): Promise<{ file: string; port: number }> {
  const { file, ports } = await writeBenchConfig(join(dir, 'gatehouse.yaml'), {
    store: { driver: 'embedded', path: join(dir, 'gatehouse.db') },
    tokens: { pepper: 'bench-pepper' },
    log: { level: 'warn' },
    deployments: [{ name: 'model', access: 'protected', protocol: 'grpc', upstreams: [`http://127.0.0.1:${upstreamPort}`] }],
  });
  return { file, port: ports.external };
}

function mintToken(configFile: string): string {
  const out = execFileSync(process.execPath, [CLI, 'token', 'create', '--config', configFile, '--name', 'grpc-bench', '--user-deployment', 'model', '--json'], { encoding: 'utf8' });
  return (JSON.parse(out) as { secret: string }).secret;
}

/** A load run's result with the CPU time the gateway and the upstream spent on it. */
type Measured<T> = T & { readonly gatewayCpu: number; readonly upstreamCpu: number };

/** Runs one load-generator process to its end and parses its result line. */
async function load<T>(cpu: string, kind: 'unary' | 'stream', port: number, seconds: number, pids: { gateway: number; upstream: number }, token?: string): Promise<Measured<T>> {
  const args = [ROLES, '--load', kind, '--port', String(port), '--authority', HOST, '--seconds', String(seconds), '--inflight', String(INFLIGHT)];
  if (token !== undefined) args.push('--token', token);
  const gateway = cpuSeconds(pids.gateway);
  const upstream = cpuSeconds(pids.upstream);
  const child = startNode({ cpu, args });
  let out = '';
  child.process.stdout?.on('data', (d: Buffer) => { out += d.toString(); });
  const code = await new Promise<number | null>((done) => child.process.once('exit', done));
  const line = out.trim().split('\n').pop() ?? '';
  if (code !== 0 || !line.startsWith('{')) throw new Error(`load generator (${kind}, port ${port}) exited ${code}: ${out}`);
  return { ...(JSON.parse(line) as T), gatewayCpu: cpuSeconds(pids.gateway) - gateway, upstreamCpu: cpuSeconds(pids.upstream) - upstream };
}

function errorsNote(results: readonly { errors: number }[]): string {
  const errors = results.reduce((sum, r) => sum + r.errors, 0);
  return errors > 0 ? `; ${errors} failed calls` : '';
}

/** Measures the four rows; every child process it starts is stopped before it returns. */
export async function runGrpcBench(opts: { seconds: number }): Promise<BenchRow[]> {
  const where = placement();
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-grpc-bench-'));
  const children: Child[] = [];
  try {
    const upstream = startNode({ cpu: where.loadCpu, args: [ROLES, '--upstream'] });
    children.push(upstream);
    const upstreamPort = await readyPort(upstream);
    const { file, port } = await writeConfig(dir, upstreamPort);
    const token = mintToken(file);
    const devNull = openSync('/dev/null', 'w');
    const gateway = startNode({ cpu: where.proxyCpu, args: [CLI, 'serve', '--config', file], stdout: devNull });
    children.push(gateway);
    closeSync(devNull);
    await waitForPort(port);
    log(`upstream :${upstreamPort}, gatehouse :${port}${where.pinned ? `, gateway on cpu ${where.proxyCpu}, load and upstream on cpu ${where.loadCpu}` : ' (unpinned)'}`);

    const pids = { gateway: gateway.pid, upstream: upstream.pid };
    const loadAtStart = loadavg()[0];
    const unaryDirect: Measured<UnaryResult>[] = [];
    const unaryGateway: Measured<UnaryResult>[] = [];
    const streamDirect: Measured<StreamResult>[] = [];
    const streamGateway: Measured<StreamResult>[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      unaryDirect.push(await load<UnaryResult>(where.loadCpu, 'unary', upstreamPort, opts.seconds, pids));
      unaryGateway.push(await load<UnaryResult>(where.loadCpu, 'unary', port, opts.seconds, pids, token));
      streamDirect.push(await load<StreamResult>(where.loadCpu, 'stream', upstreamPort, opts.seconds, pids));
      streamGateway.push(await load<StreamResult>(where.loadCpu, 'stream', port, opts.seconds, pids, token));
      const last = <T>(r: T[]): T => r[r.length - 1];
      log(`round ${round}/${ROUNDS}: unary ${rpsOf(last(unaryDirect)).toFixed(0)} direct, ${rpsOf(last(unaryGateway)).toFixed(0)} gatehouse calls/s; `
        + `stream ${mbpsOf(last(streamDirect)).toFixed(0)} direct, ${mbpsOf(last(streamGateway)).toFixed(0)} gatehouse MB/s`);
    }

    const unaryRatio = median(unaryGateway.map((g, i) => rpsOf(g) / rpsOf(unaryDirect[i])));
    const streamRatio = median(streamGateway.map((g, i) => mbpsOf(g) / mbpsOf(streamDirect[i])));
    // CPU per call (µs) and per MB (ms), steady under background load where the rates are not:
    // the gateway's own cost, and the ceiling the rates would reach with the gateway alone on
    // its core (the other core running the client and the upstream).
    const perCall = (m: Measured<UnaryResult>, cpu: number): number => (cpu * 1e6) / m.total;
    const perMB = (m: Measured<StreamResult>, cpu: number): number => (cpu * 1e3) / (m.total / 1e6);
    const unaryCeiling = median(unaryGateway.map((g, i) => ceiling(
      perCall(unaryDirect[i], unaryDirect[i].cpu + unaryDirect[i].upstreamCpu),
      perCall(g, g.cpu + g.upstreamCpu),
      perCall(g, g.gatewayCpu),
    )));
    const streamCeiling = median(streamGateway.map((g, i) => ceiling(
      perMB(streamDirect[i], streamDirect[i].cpu + streamDirect[i].upstreamCpu),
      perMB(g, g.cpu + g.upstreamCpu),
      perMB(g, g.gatewayCpu),
    )));
    const gatewayUs = median(unaryGateway.map((g) => perCall(g, g.gatewayCpu))).toFixed(0);
    const upstreamUs = median(unaryDirect.map((d) => perCall(d, d.upstreamCpu))).toFixed(0);
    const gatewayMs = median(streamGateway.map((g) => perMB(g, g.gatewayCpu))).toFixed(2);
    const upstreamMs = median(streamDirect.map((d) => perMB(d, d.upstreamCpu))).toFixed(2);
    const loadNote = `load average ${loadAtStart.toFixed(1)} -> ${loadavg()[0].toFixed(1)}`;
    return [
      {
        name: 'gRPC unary, upstream direct', rps: median(unaryDirect.map(rpsOf)), p99ms: median(unaryDirect.map((r) => r.p99ms)),
        note: `grpc-js client, ${INFLIGHT} calls in flight on one h2c channel, 128 B messages; upstream ${upstreamUs} µs CPU/call; ${loadNote}${errorsNote(unaryDirect)}`,
      },
      {
        name: 'gRPC unary, gatehouse protected', rps: median(unaryGateway.map(rpsOf)), p99ms: median(unaryGateway.map((r) => r.p99ms)),
        note: `h2c, cached token, log level warn; ${unaryRatio.toFixed(2)}x direct (target 0.6x), CPU ceiling ${unaryCeiling.toFixed(2)}x; gateway ${gatewayUs} µs CPU/call${errorsNote(unaryGateway)}`,
      },
      {
        name: 'gRPC server stream, upstream direct', mbps: median(streamDirect.map(mbpsOf)),
        note: `64 KiB messages, one call; upstream ${upstreamMs} ms CPU/MB${errorsNote(streamDirect)}`,
      },
      {
        name: 'gRPC server stream, gatehouse protected', mbps: median(streamGateway.map(mbpsOf)),
        note: `h2c, cached token; ${streamRatio.toFixed(2)}x direct (target 0.8x), CPU ceiling ${streamCeiling.toFixed(2)}x; gateway ${gatewayMs} ms CPU/MB${errorsNote(streamGateway)}`,
      },
    ];
  } finally {
    await Promise.all(children.map((c) => c.stop()));
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The gateway path's rate over the direct one if every core were busy: the
 * direct path costs `direct` on one core; through the gateway that core pays
 * `sharedCore` (client and upstream) while the other pays `gateway`.
 */
function ceiling(direct: number, sharedCore: number, gateway: number): number {
  return direct / Math.max(sharedCore, gateway);
}

function rpsOf(r: UnaryResult): number {
  return r.calls / r.seconds;
}

function mbpsOf(r: StreamResult): number {
  return r.bytes / 1e6 / r.seconds;
}

if (require.main === module) {
  const seconds = Number(process.env.BENCH_SECONDS ?? 5);
  runGrpcBench({ seconds }).then((rows) => printRows('gRPC', rows), (err: unknown) => {
    process.stderr.write(`bench: grpc: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  });
}
