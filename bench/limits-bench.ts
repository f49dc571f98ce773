/**
 * Limits: what a limit check costs on the hot path, and how well one limit
 * holds for a fleet (on a private redis-server).
 *
 * - cost: a gateway process per store (Redis, embedded), wrk on a protected route
 *   with a cached token, alternating between a token without limits and one whose
 *   limits (10^9 per minute, 10^9 at once) are checked on every request but never hit;
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

/** One measured row: a token on one gateway process. */
interface Row {
  readonly name: string;
  readonly port: number;
  readonly pid: number;
  readonly secret: string;
  readonly rps: number[];
  readonly cpu: number[];
}

export interface LimitsBenchResult {
  readonly rows: readonly { readonly name: string; readonly rps: number; readonly cpu: number }[];
  /** limited / unlimited per round, per store. */
  readonly ratios: readonly { readonly store: string; readonly perRound: number[] }[];
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
    const gateway = async (name: string, store: Record<string, unknown>): Promise<{ file: string; port: number; pid: number }> => {
      const { file, ports } = await writeBenchConfig(join(dir, `${name}.yaml`), {
        store,
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
    const wrk = (port: number, secret: string, seconds: number, connections = options.connections) =>
      runWrk({ url: `http://127.0.0.1:${port}/`, seconds, connections, headers: [`Host: ${HOST}`, `Authorization: Bearer ${secret}`], cpu: where.loadCpu });

    const a = await gateway('a', { driver: 'redis', url: `redis://127.0.0.1:${redisPort}/0` });
    const e = await gateway('e', { driver: 'embedded', path: join(dir, 'gatehouse.db') });
    const never = ['--rate', '1000000000/m', '--concurrent', '1000000000'];
    const row = (name: string, g: { port: number; pid: number }, secret: string): Row => ({ name, port: g.port, pid: g.pid, secret, rps: [], cpu: [] });
    const pairs = [
      { store: 'redis', plain: row('protected, no limits (redis store)', a, mint(a.file)), limited: row('protected, limits checked (redis store)', a, mint(a.file, ...never)) },
      { store: 'embedded', plain: row('protected, no limits (embedded store)', e, mint(e.file)), limited: row('protected, limits checked (embedded store)', e, mint(e.file, ...never)) },
    ];
    options.log('limits: warm-up');
    for (const pair of pairs) for (const r of [pair.plain, pair.limited]) await wrk(r.port, r.secret, 2);
    const ratios = pairs.map((p) => ({ store: p.store, perRound: [] as number[] }));
    for (let round = 1; round <= options.rounds; round++) {
      const parts: string[] = [];
      for (const [i, pair] of pairs.entries()) {
        // Every other round measures the limited row first, so a drifting load favours neither.
        for (const r of round % 2 === 1 ? [pair.plain, pair.limited] : [pair.limited, pair.plain]) {
          const before = cpuSeconds(r.pid);
          const result = await wrk(r.port, r.secret, options.seconds);
          if (result.non2xx > 0 || result.socketErrors > 0) options.log(`limits: ${r.name}: ${result.non2xx} non-2xx, ${result.socketErrors} socket errors`);
          r.rps.push(result.rps);
          r.cpu.push(((cpuSeconds(r.pid) - before) * 1e6) / result.requests);
        }
        ratios[i].perRound.push(pair.limited.rps[round - 1] / pair.plain.rps[round - 1]);
        parts.push(`${pair.store} ${formatRps(pair.plain.rps[round - 1])} / ${formatRps(pair.limited.rps[round - 1])}`);
      }
      options.log(`limits: round ${round}/${options.rounds} (no limits / limits): ${parts.join(', ')}`);
    }

    const b = await gateway('b', { driver: 'redis', url: `redis://127.0.0.1:${redisPort}/0` });
    const fleetToken = mint(a.file, '--rate', `${FLEET_LIMIT}/m`);
    options.log(`limits: fleet: ${options.fleetSeconds} s through two replicas`);
    const half = Math.max(1, Math.floor(options.connections / 2));
    const runs = await Promise.all([wrk(a.port, fleetToken, options.fleetSeconds, half), wrk(b.port, fleetToken, options.fleetSeconds, half)]);
    const perReplica = runs.map((r) => r.requests - r.non2xx);
    return {
      rows: pairs.flatMap((p) => [p.plain, p.limited]).map((r) => ({ name: r.name, rps: median(r.rps), cpu: median(r.cpu) })),
      ratios,
      fleet: { seconds: options.fleetSeconds, allowed: perReplica.reduce((x, y) => x + y, 0), refused: runs.reduce((x, r) => x + r.non2xx, 0), perReplica },
    };
  } finally {
    await Promise.all(children.map((c) => c.stop()));
    redis.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
}

export function formatLimitsReport(result: LimitsBenchResult, options: LimitsBenchOptions): string {
  const perMinute = (result.fleet.allowed * 60) / result.fleet.seconds;
  // A GCRA admits its burst (⌈N/60⌉) on top of N per minute from a cold start.
  const bound = FLEET_LIMIT + Math.ceil(FLEET_LIMIT / 60);
  return [
    `Limits: ${options.rounds} rounds x ${options.seconds} s per row, wrk -t1 -c${options.connections}; a cached token, limits of 10^9 (checked, never hit)`,
    formatTable(['row', 'req/s', 'cpu µs/req'], result.rows.map((r) => [`gatehouse ${r.name}`, formatRps(r.rps), r.cpu.toFixed(1)])),
    '',
    formatTable(['ratio', 'per round', 'median', 'target', ''], result.ratios.map((r) => {
      const m = median(r.perRound);
      return [`limits / no limits, ${r.store}`, r.perRound.map((x) => x.toFixed(2)).join(' '), formatRatio(m), '>= 0.9', m >= 0.9 ? 'ok' : 'MISSED'];
    })),
    '',
    `Fleet accuracy: two replicas on one redis-server, one token limited to ${FLEET_LIMIT}/min, wrk through both for ${result.fleet.seconds} s`,
    formatTable(['allowed', 'refused', 'allowed per replica', 'allowed per minute', 'vs limit', 'target'], [[
      String(result.fleet.allowed), String(result.fleet.refused), result.fleet.perReplica.join(' + '),
      perMinute.toFixed(0), `${(((perMinute / FLEET_LIMIT) - 1) * 100).toFixed(1)} %`, `<= +5 % (GCRA bound ${bound}/min over a minute)`,
    ]]),
  ].join('\n');
}
