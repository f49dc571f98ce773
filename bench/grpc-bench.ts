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
export const HOST = 'model.bench.localhost';
/** Rounds per row, alternating direct and gateway so background noise hits both alike. */
const ROUNDS = 3;
const INFLIGHT = 64;
/**
 * The second stream measurement's client receive window. grpc-js keeps
 * HTTP/2's 64 KiB default, so a stream moves one window per round trip and
 * any extra hop's latency caps it; clients that size their window for
 * streaming (grpcio's BDP probing grows it to megabytes) are not capped so.
 */
const WIDE_WINDOW = 1024 * 1024;

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

/** Mints a user token for the `model` Deployment through the CLI. */
export function mintToken(configFile: string): string {
  const out = execFileSync(process.execPath, [CLI, 'token', 'create', '--config', configFile, '--name', 'grpc-bench', '--user-deployment', 'model', '--json'], { encoding: 'utf8' });
  return (JSON.parse(out) as { secret: string }).secret;
}

/** A load run's result with the CPU time the gateway and the upstream spent on it. */
type Measured<T> = T & { readonly gatewayCpu: number; readonly upstreamCpu: number };

/** Runs one load-generator process to its end and parses its result line. */
interface LoadSpec {
  readonly kind: 'unary' | 'stream';
  readonly port: number;
  readonly token?: string;
  readonly window?: number;
}

async function load<T>(cpu: string, spec: LoadSpec, seconds: number, pids: { gateway: number; upstream: number }): Promise<Measured<T>> {
  const { kind, port, token, window } = spec;
  const args = [ROLES, '--load', kind, '--port', String(port), '--authority', HOST, '--seconds', String(seconds), '--inflight', String(INFLIGHT)];
  if (token !== undefined) args.push('--token', token);
  if (window !== undefined) args.push('--window', String(window));
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
    const wideDirect: Measured<StreamResult>[] = [];
    const wideGateway: Measured<StreamResult>[] = [];
    const run = <T>(spec: LoadSpec): Promise<Measured<T>> => load<T>(where.loadCpu, spec, opts.seconds, pids);
    for (let round = 1; round <= ROUNDS; round++) {
      unaryDirect.push(await run<UnaryResult>({ kind: 'unary', port: upstreamPort }));
      unaryGateway.push(await run<UnaryResult>({ kind: 'unary', port, token }));
      streamDirect.push(await run<StreamResult>({ kind: 'stream', port: upstreamPort }));
      streamGateway.push(await run<StreamResult>({ kind: 'stream', port, token }));
      wideDirect.push(await run<StreamResult>({ kind: 'stream', port: upstreamPort, window: WIDE_WINDOW }));
      wideGateway.push(await run<StreamResult>({ kind: 'stream', port, token, window: WIDE_WINDOW }));
      const last = <T>(r: T[]): T => r[r.length - 1];
      log(`round ${round}/${ROUNDS}: unary ${rpsOf(last(unaryDirect)).toFixed(0)} direct, ${rpsOf(last(unaryGateway)).toFixed(0)} gatehouse calls/s `
        + `(µs CPU/call client+upstream+gateway: direct ${costs(last(unaryDirect))}, gatehouse ${costs(last(unaryGateway))}); `
        + `stream ${mbpsOf(last(streamDirect)).toFixed(0)} direct, ${mbpsOf(last(streamGateway)).toFixed(0)} gatehouse MB/s; `
        + `1 MiB window ${mbpsOf(last(wideDirect)).toFixed(0)} direct, ${mbpsOf(last(wideGateway)).toFixed(0)} gatehouse MB/s`);
    }

    const unaryRatio = median(unaryGateway.map((g, i) => rpsOf(g) / rpsOf(unaryDirect[i])));
    // CPU per call (µs): the gateway's own cost, steady under background load where the rates
    // are not, and the ceiling the rate would reach with the gateway alone on its core (the
    // other core running the client and the upstream).
    const perCall = (m: Measured<UnaryResult>, cpu: number): number => (cpu * 1e6) / m.total;
    const unaryCeiling = median(unaryGateway.map((g, i) => ceiling(
      perCall(unaryDirect[i], unaryDirect[i].cpu + unaryDirect[i].upstreamCpu),
      perCall(g, g.cpu + g.upstreamCpu),
      perCall(g, g.gatewayCpu),
    )));
    const gatewayUs = median(unaryGateway.map((g) => perCall(g, g.gatewayCpu))).toFixed(0);
    const upstreamUs = median(unaryDirect.map((d) => perCall(d, d.upstreamCpu))).toFixed(0);
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
      ...streamRows('64 KiB client window (grpc-js default)', streamDirect, streamGateway),
      ...streamRows('1 MiB client window', wideDirect, wideGateway),
    ];
  } finally {
    await Promise.all(children.map((c) => c.stop()));
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The direct and gateway rows of one server-stream measurement, with ratio, ceiling and CPU per MB. */
function streamRows(window: string, direct: Measured<StreamResult>[], gateway: Measured<StreamResult>[]): BenchRow[] {
  const perMB = (m: Measured<StreamResult>, cpu: number): number => (cpu * 1e3) / (m.total / 1e6);
  const ratio = median(gateway.map((g, i) => mbpsOf(g) / mbpsOf(direct[i])));
  const streamCeiling = median(gateway.map((g, i) => ceiling(
    perMB(direct[i], direct[i].cpu + direct[i].upstreamCpu),
    perMB(g, g.cpu + g.upstreamCpu),
    perMB(g, g.gatewayCpu),
  )));
  const gatewayMs = median(gateway.map((g) => perMB(g, g.gatewayCpu))).toFixed(2);
  const upstreamMs = median(direct.map((d) => perMB(d, d.upstreamCpu))).toFixed(2);
  return [
    {
      name: `gRPC server stream, ${window}, upstream direct`, mbps: median(direct.map(mbpsOf)),
      note: `64 KiB messages, one call; upstream ${upstreamMs} ms CPU/MB${errorsNote(direct)}`,
    },
    {
      name: `gRPC server stream, ${window}, gatehouse protected`, mbps: median(gateway.map(mbpsOf)),
      note: `h2c, cached token; ${ratio.toFixed(2)}x direct (target 0.8x), CPU ceiling ${streamCeiling.toFixed(2)}x; gateway ${gatewayMs} ms CPU/MB${errorsNote(gateway)}`,
    },
  ];
}

/**
 * The gateway path's rate over the direct one if every core were busy: the
 * direct path costs `direct` on one core; through the gateway that core pays
 * `sharedCore` (client and upstream) while the other pays `gateway`.
 */
function ceiling(direct: number, sharedCore: number, gateway: number): number {
  return direct / Math.max(sharedCore, gateway);
}

/** Client, upstream and gateway CPU µs per unary call, for telling which process a change moved. */
function costs(m: Measured<UnaryResult>): string {
  return [m.cpu, m.upstreamCpu, m.gatewayCpu].map((cpu) => ((cpu * 1e6) / m.total).toFixed(0)).join('+');
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
