/**
 * Limits: what a limit check costs on the hot path, and how well one limit
 * holds for a fleet. Both on a private redis-server (the fleet's store).
 *
 * - cost: one gateway process, wrk on a protected route with a cached token,
 *   rounds alternating between a token without limits and one whose limits
 *   (10^9 per minute, 10^9 at once) are checked on every request but never hit;
 * - fleet: two gateway processes, one token limited to 6,000 per minute,
 *   wrk through both at once; allowed requests per minute against the limit.
 *
 * Environment: BENCH_ROUNDS, BENCH_SECONDS, BENCH_CONNECTIONS as for the HTTP
 * section; BENCH_FLEET_SECONDS (60).
 */
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { cpuSeconds } from './cpu-time';
import { freePort, placement, readyPort, startNode, waitForPort, writeBenchConfig, type Child } from './processes';
import { formatRatio, formatRps, formatTable, median } from './table';
import { runWrk } from './wrk';

const ROOT = resolve(__dirname, '..', '..');
const CLI = join(ROOT, 'bin', 'gatehouse.js');
const HOST = 'guarded.bench.localhost';
const FLEET_LIMIT = 6_000;

export interface LimitsBenchOptions {
  readonly rounds: number;
  readonly seconds: number;
  readonly connections: number;
  readonly fleetSeconds: number;
  readonly log: (line: string) => void;
}

export interface LimitsBenchResult {
  readonly unlimited: number;
  readonly limited: number;
  readonly ratios: number[];
  readonly cpu: { readonly unlimited: number; readonly limited: number };
  readonly fleet: { readonly seconds: number; readonly allowed: number; readonly refused: number; readonly perReplica: number[] };
}

export async function runLimitsBench(options: LimitsBenchOptions): Promise<LimitsBenchResult> {
  const where = placement();
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-limits-bench-'));
  const children: Child[] = [];
  const redisPort = await freePort();
  const redis = spawn('/usr/bin/redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
  try {
    await waitForPort(redisPort);
    const upstream = startNode({ cpu: where.loadCpu, args: [join(__dirname, 'upstream-server.js')] });
    children.push(upstream);
    const upstreamUrl = `http://127.0.0.1:${await readyPort(upstream)}`;
    const gateway = async (name: string): Promise<{ file: string; port: number; pid: number }> => {
      const { file, ports } = await writeBenchConfig(join(dir, `${name}.yaml`), {
        store: { driver: 'redis', url: `redis://127.0.0.1:${redisPort}/0` },
        tokens: { pepper: 'bench-pepper' },
        log: { level: 'warn' },
        deployments: [{ name: 'guarded', access: 'protected', protocol: 'http', upstreams: [upstreamUrl] }],
      });
      const devNull = openSync('/dev/null', 'w');
      const child = startNode({ cpu: where.proxyCpu, args: [CLI, 'serve', '--config', file], stdout: devNull });
      closeSync(devNull);
      children.push(child);
      await waitForPort(ports.external);
      return { file, port: ports.external, pid: child.pid };
    };
    const mint = (file: string, ...flags: string[]): string => {
      const out = execFileSync(process.execPath, [CLI, 'token', 'create', '--config', file, '--name', 'bench', '--user-deployment', 'guarded', '--json', ...flags], { encoding: 'utf8' });
      return (JSON.parse(out) as { secret: string }).secret;
    };

    const a = await gateway('a');
    const plain = mint(a.file);
    const checked = mint(a.file, '--rate', '1000000000/m', '--concurrent', '1000000000');
    const wrk = (port: number, secret: string, seconds: number, connections = options.connections) =>
      runWrk({ url: `http://127.0.0.1:${port}/`, seconds, connections, headers: [`Host: ${HOST}`, `Authorization: Bearer ${secret}`], cpu: where.loadCpu });
    options.log('limits: warm-up');
    await wrk(a.port, plain, 2);
    await wrk(a.port, checked, 2);
    const rows = { unlimited: [] as number[], limited: [] as number[], cpuUnlimited: [] as number[], cpuLimited: [] as number[], ratios: [] as number[] };
    for (let round = 1; round <= options.rounds; round++) {
      const order = round % 2 === 1 ? ['unlimited', 'limited'] as const : ['limited', 'unlimited'] as const;
      const got: Record<string, number> = {};
      for (const kind of order) {
        const before = cpuSeconds(a.pid);
        const result = await wrk(a.port, kind === 'limited' ? checked : plain, options.seconds);
        if (result.non2xx > 0 || result.socketErrors > 0) options.log(`limits: ${kind}: ${result.non2xx} non-2xx, ${result.socketErrors} socket errors`);
        got[kind] = result.rps;
        rows[kind].push(result.rps);
        (kind === 'limited' ? rows.cpuLimited : rows.cpuUnlimited).push(((cpuSeconds(a.pid) - before) * 1e6) / result.requests);
      }
      rows.ratios.push(got.limited / got.unlimited);
      options.log(`limits: round ${round}/${options.rounds}: unlimited ${formatRps(got.unlimited)}, limited ${formatRps(got.limited)}`);
    }

    const b = await gateway('b');
    const fleetToken = mint(a.file, '--rate', `${FLEET_LIMIT}/m`);
    options.log(`limits: fleet: ${options.fleetSeconds} s through two replicas`);
    const half = Math.max(1, Math.floor(options.connections / 2));
    const runs = await Promise.all([wrk(a.port, fleetToken, options.fleetSeconds, half), wrk(b.port, fleetToken, options.fleetSeconds, half)]);
    const perReplica = runs.map((r) => r.requests - r.non2xx);
    const allowed = perReplica.reduce((x, y) => x + y, 0);
    const refused = runs.reduce((x, r) => x + r.non2xx, 0);
    return {
      unlimited: median(rows.unlimited), limited: median(rows.limited), ratios: rows.ratios,
      cpu: { unlimited: median(rows.cpuUnlimited), limited: median(rows.cpuLimited) },
      fleet: { seconds: options.fleetSeconds, allowed, refused, perReplica },
    };
  } finally {
    await Promise.all(children.map((c) => c.stop()));
    redis.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
}

export function formatLimitsReport(result: LimitsBenchResult, options: LimitsBenchOptions): string {
  const ratio = median(result.ratios);
  const perMinute = (result.fleet.allowed * 60) / result.fleet.seconds;
  // A GCRA admits its burst (⌈N/60⌉) on top of N per minute from a cold start.
  const bound = FLEET_LIMIT + Math.ceil(FLEET_LIMIT / 60);
  return [
    `Limits (redis store): ${options.rounds} rounds x ${options.seconds} s per row, wrk -t1 -c${options.connections}`,
    formatTable(['row', 'req/s', 'cpu µs/req'], [
      ['gatehouse protected, token without limits', formatRps(result.unlimited), result.cpu.unlimited.toFixed(1)],
      ['gatehouse protected, limits checked', formatRps(result.limited), result.cpu.limited.toFixed(1)],
    ]),
    '',
    formatTable(['ratio', 'per round', 'median', 'target', ''], [[
      'limited / unlimited', result.ratios.map((r) => r.toFixed(2)).join(' '), formatRatio(ratio), '>= 0.9', ratio >= 0.9 ? 'ok' : 'MISSED',
    ]]),
    '',
    `Fleet accuracy: two replicas on one redis-server, one token limited to ${FLEET_LIMIT}/min, wrk through both for ${result.fleet.seconds} s`,
    formatTable(['allowed', 'refused', 'allowed per replica', 'allowed per minute', 'vs limit', 'target'], [[
      String(result.fleet.allowed), String(result.fleet.refused), result.fleet.perReplica.join(' + '),
      perMinute.toFixed(0), `${(((perMinute / FLEET_LIMIT) - 1) * 100).toFixed(1)} %`, `<= +5 % (GCRA bound ${bound})`,
    ]]),
  ].join('\n');
}
