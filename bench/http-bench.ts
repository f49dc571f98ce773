import http from 'node:http';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { cpuSeconds } from './cpu-time';
import { GatehouseBench, PROTECTED_HOST, PUBLIC_HOST } from './gatehouse-setup';
import { placement, readyPort, startNode, type Child, type Placement } from './processes';
import { formatMs, formatRatio, formatRps, formatTable, median } from './table';
import { runWrk, type WrkResult } from './wrk';

export interface HttpBenchOptions {
  readonly rounds: number;
  readonly seconds: number;
  readonly warmupSeconds: number;
  readonly connections: number;
  /** Node flags for the measured gateway processes, e.g. `--cpu-prof`. */
  readonly gatewayNodeArgs: readonly string[];
  /** Row ids to measure (default: all). */
  readonly only?: readonly RowId[];
  readonly log: (line: string) => void;
}

export const ROW_IDS = ['direct', 'naive', 'floor', 'public', 'protected', 'floor-refusal', 'malformed', 'public-info'] as const;
export type RowId = (typeof ROW_IDS)[number];

interface Target {
  readonly port: number;
  /** The process under measurement (the upstream itself for the direct row). */
  readonly pid: number;
  readonly headers: readonly string[];
  /** The status every response must have. */
  readonly status: number;
}

interface RowSpec {
  readonly id: RowId;
  readonly name: string;
  readonly note: string;
}

const ROWS: readonly RowSpec[] = [
  { id: 'direct', name: 'upstream direct', note: 'node:http, same core as wrk' },
  { id: 'naive', name: 'naive http-proxy', note: 'http-proxy + keep-alive Agent' },
  { id: 'floor', name: 'node:http + undici floor', note: 'bench/platform-floor.ts: a proxy with no gateway logic at all' },
  { id: 'public', name: 'gatehouse public', note: 'log level warn' },
  { id: 'protected', name: 'gatehouse protected', note: 'cached token, log level warn' },
  { id: 'floor-refusal', name: 'node:http 401 floor', note: 'bench/platform-floor.ts: a fixed 401, no parsing' },
  { id: 'malformed', name: 'gatehouse malformed token', note: '401 refusals, log level warn' },
  { id: 'public-info', name: 'gatehouse public, info log', note: 'default log level: a JSON line per request' },
];

/** One wrk run plus the CPU the measured process spent per request meanwhile. */
export interface Measurement extends WrkResult {
  readonly cpuUsPerRequest: number;
}

export interface RowResult {
  readonly spec: RowSpec;
  readonly rounds: Measurement[];
  readonly rps: number;
  readonly p99ms: number;
  readonly cpuUsPerRequest: number;
  /** Anything that makes the row suspect: wrong statuses, socket errors. */
  readonly problems: string[];
}

interface RatioSpec {
  readonly name: string;
  readonly num: RowId;
  readonly den: RowId;
  readonly target?: number;
  /**
   * What the target is a bound on: req/s (the default), or CPU time per request (den's over num's).
   * With the gateway alone on its core, CPU per request is its own cost; req/s also moves with
   * whatever else the machine runs, which on a shared VM is more than the few µs being judged.
   */
  readonly by?: 'cpu';
}

const RATIOS: readonly RatioSpec[] = [
  { name: 'protected / public', num: 'protected', den: 'public', target: 0.95, by: 'cpu' },
  { name: 'public / naive http-proxy', num: 'public', den: 'naive', target: 2.2 },
  { name: 'malformed refusals / public', num: 'malformed', den: 'public', target: 3 },
  { name: 'malformed refusals / naive http-proxy', num: 'malformed', den: 'naive' },
  { name: 'node:http + undici floor / naive http-proxy', num: 'floor', den: 'naive' },
  // At most 1.15x the floor's CPU per request.
  { name: 'public / node:http + undici floor', num: 'public', den: 'floor', target: 0.87, by: 'cpu' },
  { name: 'node:http 401 floor / node:http + undici floor', num: 'floor-refusal', den: 'floor' },
  { name: 'malformed refusals / node:http 401 floor', num: 'malformed', den: 'floor-refusal' },
  { name: 'public info log / public warn log', num: 'public-info', den: 'public', target: 0.95, by: 'cpu' },
  { name: 'public / upstream direct', num: 'public', den: 'direct' },
];

export interface RatioResult {
  readonly spec: RatioSpec;
  readonly perRound: number[];
  readonly median: number;
  readonly cpuPerRound: number[];
  /** The same ratio read from CPU time per request (den's cost over num's), which background load barely moves. */
  readonly cpuMedian: number;
}

export interface HttpBenchResult {
  readonly placement: Placement;
  readonly options: HttpBenchOptions;
  /** One-minute load averages when measuring started and ended: how busy the rest of the machine was. */
  readonly load: readonly [number, number];
  readonly rows: RowResult[];
  readonly ratios: RatioResult[];
}

/**
 * The HTTP benchmark: upstream direct, a naive http-proxy, and Gatehouse on a
 * public route, a protected route with a cached token and refusing malformed
 * tokens. Every row is measured once per round; ratios are taken per round
 * (rows of one round ran seconds apart, under the same background noise) and
 * reported as medians.
 */
export async function runHttpBench(options: HttpBenchOptions): Promise<HttpBenchResult> {
  const where = placement();
  const loadAtStart = loadavg()[0];
  const children: Child[] = [];
  const upstream = startNode({ cpu: where.loadCpu, args: [join(__dirname, 'upstream-server.js')] });
  children.push(upstream);
  const upstreamPort = await readyPort(upstream).catch(async (err: unknown) => {
    await upstream.stop();
    throw err;
  });
  const gatehouse = new GatehouseBench(`http://127.0.0.1:${upstreamPort}`);
  try {
    const specs = ROWS.filter((r) => !options.only || options.only.includes(r.id));
    const wanted = new Set(specs.map((s) => s.id));
    const targets = new Map<RowId, Target>();
    targets.set('direct', { port: upstreamPort, pid: upstream.pid, headers: [], status: 200 });

    if (wanted.has('naive')) {
      const naive = startNode({ cpu: where.proxyCpu, args: [join(__dirname, 'naive-proxy.js'), `http://127.0.0.1:${upstreamPort}`] });
      children.push(naive);
      targets.set('naive', { port: await readyPort(naive), pid: naive.pid, headers: [], status: 200 });
    }
    if (wanted.has('floor')) {
      const floor = startNode({ cpu: where.proxyCpu, args: [join(__dirname, 'platform-floor.js'), `http://127.0.0.1:${upstreamPort}`] });
      children.push(floor);
      targets.set('floor', { port: await readyPort(floor), pid: floor.pid, headers: [], status: 200 });
    }
    if (wanted.has('floor-refusal')) {
      const floor = startNode({ cpu: where.proxyCpu, args: [join(__dirname, 'platform-floor.js'), '--refuse'] });
      children.push(floor);
      targets.set('floor-refusal', { port: await readyPort(floor), pid: floor.pid, headers: [], status: 401 });
    }
    const warn = await gatehouse.writeConfig('gatehouse-warn', 'warn');
    const secret = gatehouse.mintToken(warn.file);
    const malformed = secret.slice(0, -1) + (secret.endsWith('0') ? '1' : '0');
    if (['public', 'protected', 'malformed'].some((id) => wanted.has(id as RowId))) {
      const gw = await gatehouse.start(warn.file, warn.port, 'warn', where.proxyCpu, options.gatewayNodeArgs);
      const pid = gw.child.pid;
      targets.set('public', { port: gw.port, pid, headers: [`Host: ${PUBLIC_HOST}`], status: 200 });
      targets.set('protected', { port: gw.port, pid, headers: [`Host: ${PROTECTED_HOST}`, `Authorization: Bearer ${secret}`], status: 200 });
      targets.set('malformed', { port: gw.port, pid, headers: [`Host: ${PROTECTED_HOST}`, `Authorization: Bearer ${malformed}`], status: 401 });
    }
    if (wanted.has('public-info')) {
      const info = await gatehouse.writeConfig('gatehouse-info', 'info');
      const gw = await gatehouse.start(info.file, info.port, 'info', where.proxyCpu, options.gatewayNodeArgs);
      targets.set('public-info', { port: gw.port, pid: gw.child.pid, headers: [`Host: ${PUBLIC_HOST}`], status: 200 });
    }

    for (const spec of specs) await checkOnce(spec, targets.get(spec.id) as Target);

    const measure = async (spec: RowSpec, seconds: number): Promise<Measurement> => {
      const target = targets.get(spec.id) as Target;
      const before = cpuSeconds(target.pid);
      const result = await runWrk({ url: `http://127.0.0.1:${target.port}/`, seconds, connections: options.connections, headers: target.headers, cpu: where.loadCpu });
      return { ...result, cpuUsPerRequest: ((cpuSeconds(target.pid) - before) * 1e6) / result.requests };
    };
    if (options.warmupSeconds > 0) {
      options.log(`warm-up: ${options.warmupSeconds} s per row`);
      for (const spec of specs) await measure(spec, options.warmupSeconds);
    }
    const results = new Map<RowId, Measurement[]>(specs.map((s) => [s.id, []]));
    for (let round = 1; round <= options.rounds; round++) {
      const parts: string[] = [];
      // Every other round runs the rows backwards, so a load that drifts during a round favours no row.
      for (const spec of round % 2 === 1 ? specs : [...specs].reverse()) {
        const result = await measure(spec, options.seconds);
        results.get(spec.id)?.push(result);
        parts.push(`${spec.id} ${formatRps(result.rps)} (${result.cpuUsPerRequest.toFixed(0)} µs cpu/req)`);
      }
      options.log(`round ${round}/${options.rounds}: ${parts.join(', ')}`);
    }

    const rows = specs.map((spec) => rowResult(spec, results.get(spec.id) ?? [], targets.get(spec.id) as Target));
    const ratios = RATIOS.filter((r) => wanted.has(r.num) && wanted.has(r.den)).map((spec) => {
      const num = results.get(spec.num) ?? [];
      const den = results.get(spec.den) ?? [];
      const perRound = num.map((n, i) => n.rps / den[i].rps);
      const cpuPerRound = num.map((n, i) => den[i].cpuUsPerRequest / n.cpuUsPerRequest);
      return { spec, perRound, median: median(perRound), cpuPerRound, cpuMedian: median(cpuPerRound) };
    });
    return { placement: where, options, rows, ratios, load: [loadAtStart, loadavg()[0]] };
  } finally {
    await gatehouse.close();
    await Promise.all(children.map((c) => c.stop()));
  }
}

function rowResult(spec: RowSpec, rounds: Measurement[], target: Target): RowResult {
  const problems: string[] = [];
  const requests = rounds.reduce((sum, r) => sum + r.requests, 0);
  const non2xx = rounds.reduce((sum, r) => sum + r.non2xx, 0);
  const socketErrors = rounds.reduce((sum, r) => sum + r.socketErrors, 0);
  if (target.status < 300 && non2xx > 0) problems.push(`${non2xx} non-2xx responses`);
  if (target.status >= 300 && non2xx < requests) problems.push(`${requests - non2xx} responses were not refusals`);
  if (socketErrors > 0) problems.push(`${socketErrors} socket errors`);
  return {
    spec, rounds, problems,
    rps: median(rounds.map((r) => r.rps)),
    p99ms: median(rounds.map((r) => r.p99ms)),
    cpuUsPerRequest: median(rounds.map((r) => r.cpuUsPerRequest)),
  };
}

/** One request per row before measuring, so a misconfigured row fails loudly instead of measuring errors. */
function checkOnce(spec: RowSpec, target: Target): Promise<void> {
  const headers: Record<string, string> = {};
  for (const h of target.headers) {
    const colon = h.indexOf(':');
    headers[h.slice(0, colon)] = h.slice(colon + 1).trim();
  }
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port: target.port, path: '/', headers, agent: false }, (res) => {
      res.resume();
      res.once('end', () => {
        if (res.statusCode === target.status) resolve();
        else reject(new Error(`${spec.name}: expected status ${target.status}, got ${res.statusCode}`));
      });
    });
    req.once('error', reject);
  });
}

/** The report: per-row medians with ratios to the naive proxy and to the public route, then the targets. */
export function formatHttpReport(result: HttpBenchResult): string {
  const { options, placement: where } = result;
  const byId = new Map(result.rows.map((r) => [r.spec.id, r]));
  const naive = byId.get('naive')?.rps;
  const pub = byId.get('public')?.rps;
  const rows = result.rows.map((r) => [
    r.spec.name,
    formatRps(r.rps),
    formatMs(r.p99ms),
    Number.isNaN(r.cpuUsPerRequest) ? '-' : r.cpuUsPerRequest.toFixed(1),
    naive === undefined ? '-' : formatRatio(r.rps / naive),
    pub === undefined ? '-' : formatRatio(r.rps / pub),
    [r.spec.note, ...r.problems].join('; '),
  ]);
  const ratios = result.ratios.map((r) => {
    const judged = r.spec.by === 'cpu' ? r.cpuMedian : r.median;
    const pass = r.spec.target === undefined ? '' : judged >= r.spec.target ? 'ok' : 'MISSED';
    const byCpu = r.spec.den === 'direct' || Number.isNaN(r.cpuMedian) ? '-' : formatRatio(r.cpuMedian);
    const target = r.spec.target === undefined ? '' : `${r.spec.by === 'cpu' ? 'cpu ' : ''}>= ${r.spec.target}`;
    // Per round, what the target judges: the CPU ratios of a "cpu" target.
    const perRound = r.spec.by === 'cpu' ? r.cpuPerRound : r.perRound;
    return [r.spec.name, perRound.map((x) => x.toFixed(2)).join(' '), formatRatio(r.median), target, pass, byCpu];
  });
  const pinning = where.pinned
    ? `gateway / naive proxy pinned to CPU ${where.proxyCpu}; wrk and upstream to CPU ${where.loadCpu}`
    : 'not pinned (no taskset or a single CPU)';
  return [
    `HTTP: ${options.rounds} rounds x ${options.seconds} s per row, wrk -t1 -c${options.connections}, ${pinning}`,
    '(medians over rounds; "cpu µs/req": CPU time of the measured process per request — the upstream for the direct row;',
    ' "x naive" / "x public": req/s of the row over req/s of those rows)',
    `load average (1 min) ${result.load[0].toFixed(2)} at the start, ${result.load[1].toFixed(2)} at the end (this run adds about 2)`,
    '',
    formatTable(['row', 'req/s', 'p99', 'cpu µs/req', 'x naive', 'x public', 'note'], rows),
    '',
    'medians of per-round req/s ratios; "by cpu": the same ratio from CPU µs per request.',
    'A "cpu" target is judged on "by cpu", and its "per round" column shows the CPU ratios.',
    formatTable(['ratio', 'per round', 'median', 'target', '', 'by cpu'], ratios),
  ].join('\n');
}
