/**
 * Failover: two gateway processes on a Redis Sentinel set (one primary, one
 * replica, three sentinels, down-after-milliseconds 1 s) under a fixed
 * request rate; the primary is killed with SIGKILL. Reports how long
 * uncached tokens got 503 (from the kill to the last 503), how many requests
 * with cached tokens failed, and the revocation propagation after the
 * failover (revoke through one gateway's admin API, poll both until they
 * refuse). Run alone with `node dist/bench/failover-bench.js` (after `npm run
 * build`), or as `npm run bench -- --only failover` (`node dist/bench/run.js failover`).
 *
 * Environment: FAILOVER_RATE (requests per second per gateway and kind, 50),
 * FAILOVER_REVOCATIONS (50).
 */
import { closeSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Pool } from 'undici';
import { createToken } from '../gateway/auth/token-service';
import { tokenHasher } from '../gateway/auth/token-hash';
import { loadConfig } from '../gateway/config/load';
import { openStore } from '../gateway/store/open-store';
import { startNode, waitForPort, writeBenchConfig, type Child } from './processes';
import { DOWN_AFTER_MS, NAME, startSentinelSet } from './sentinel-set';
import { formatTable, type LatencySummary } from './table';

const CLI = join(resolve(__dirname, '..', '..'), 'bin', 'gatehouse.js');
const PEPPER = 'bench-pepper';
const HOST = 'guarded.bench.localhost';
/** Traffic goes on this long after the gateways serve uncached tokens again. */
const SETTLE_MS = 3_000;
const GIVE_UP_MS = 5_000;

export interface FailoverResult {
  readonly downAfterMs: number;
  /** From the kill until every sentinel names the promoted replica: Sentinel's own share of the outage. */
  readonly promotedMs: number;
  /** From the kill to the last 503 an uncached token got (0: none). */
  readonly uncached503Ms: number;
  readonly uncached503s: number;
  readonly uncachedRequests: number;
  readonly cachedFailures: number;
  readonly cachedRequests: number;
  readonly propagation: LatencySummary;
}

interface Gateway { readonly child: Child; readonly external: Pool; readonly admin: string }

async function status(pool: Pool, secret: string): Promise<number> {
  const res = await pool.request({ method: 'GET', path: '/', headers: { host: HOST, authorization: `Bearer ${secret}` } });
  await res.body.dump();
  return res.statusCode;
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? NaN;
}

async function startGateway(dir: string, name: string, sentinels: string[], upstream: string): Promise<Gateway> {
  const { file, ports: { external, admin } } = await writeBenchConfig(join(dir, `${name}.yaml`), {
    store: { driver: 'redis', sentinels, name: NAME },
    tokens: { pepper: PEPPER },
    failedAuth: { perMinute: 1_000_000_000 },
    log: { level: 'fatal' },
    deployments: [{ name: 'guarded', access: 'protected', protocol: 'http', upstreams: [upstream] }],
  });
  const devNull = openSync('/dev/null', 'w');
  const child = startNode({ cpu: '', args: [CLI, 'serve', '--config', file], stdout: devNull });
  closeSync(devNull);
  await Promise.all([waitForPort(external), waitForPort(admin)]);
  return { child, external: new Pool(`http://127.0.0.1:${external}`, { connections: 8 }), admin: `http://127.0.0.1:${admin}` };
}

export async function runFailoverBench(
  rate = Number(process.env.FAILOVER_RATE ?? 50), revocations = Number(process.env.FAILOVER_REVOCATIONS ?? 50),
): Promise<FailoverResult> {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-failover-'));
  const set = await startSentinelSet(dir);
  const upstream = http.createServer((req, res) => { req.resume(); res.end('ok'); });
  await new Promise<void>((done) => upstream.listen(0, '127.0.0.1', done));
  const gateways: Gateway[] = [];
  try {
    const upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
    for (const name of ['a', 'b']) gateways.push(await startGateway(dir, name, set.sentinels, upstreamUrl));
    const store = await openStore(loadConfig(join(dir, 'a.yaml')).store);
    const hash = tokenHasher(PEPPER);
    const known = new Set(['guarded']);
    const mint = () => createToken(store, hash, { name: 'u', user: { deployments: ['guarded'] }, owner: 'bench' }, known);
    const dev = await createToken(store, hash, { name: 'bench admin', developer: true, owner: 'bench' }, known);
    const cached = await Promise.all(Array.from({ length: 20 }, mint));
    // Enough never-used tokens for the whole run: each uncached request uses a new one.
    const uncached = await Promise.all(Array.from({ length: Math.ceil(rate * 2 * 25) }, mint));
    const revoked = await Promise.all(Array.from({ length: revocations }, mint));
    await store.close();
    for (const g of gateways) for (const t of [...cached, ...revoked]) if ((await status(g.external, t.secret)) !== 200) throw new Error('a token was refused before the failover');

    let cachedRequests = 0;
    let cachedFailures = 0;
    let uncachedRequests = 0;
    let uncached503s = 0;
    let last503 = 0;
    let next = 0;
    const inflight = new Set<Promise<void>>();
    const fire = (p: Promise<void>): void => { inflight.add(p); void p.finally(() => inflight.delete(p)); };
    const tick = setInterval(() => {
      for (const g of gateways) {
        const c = cached[next % cached.length]!;
        const u = uncached[next++ % uncached.length]!;
        fire(status(g.external, c.secret).then((s) => { cachedRequests++; if (s !== 200) cachedFailures++; }, () => { cachedRequests++; cachedFailures++; }));
        fire(status(g.external, u.secret).then((s) => {
          uncachedRequests++;
          if (s === 503) { uncached503s++; last503 = performance.now(); }
        }, () => { uncachedRequests++; }));
      }
    }, 1_000 / rate);

    await new Promise((r) => setTimeout(r, 1_000));
    const killedAt = performance.now();
    set.killPrimary();
    await set.waitForNewPrimary(30_000);
    const promotedAt = performance.now();
    // Until both gateways answer an uncached token, then a while longer at the same rate.
    for (const g of gateways) {
      const since = performance.now();
      while ((await status(g.external, uncached[next++ % uncached.length]!.secret)) !== 200) {
        if (performance.now() - since > 15_000) throw new Error('uncached tokens still refused 15 s after the failover');
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    await new Promise((r) => setTimeout(r, SETTLE_MS));
    clearInterval(tick);
    await Promise.all(inflight);

    const admin = new Pool(gateways[0]!.admin, { connections: 1 });
    const samples: number[] = [];
    try {
      for (const { token, secret } of revoked) {
        const res = await admin.request({ method: 'DELETE', path: `/v1/tokens/${token.id}`, headers: { authorization: `Bearer ${dev.secret}` } });
        await res.body.dump();
        const returned = performance.now();
        if (res.statusCode !== 204) throw new Error(`revoke answered ${res.statusCode}`);
        const refused = await Promise.all(gateways.map(async (g) => {
          for (;;) {
            const code = await status(g.external, secret);
            const now = performance.now();
            if (code === 401) return now;
            if (now - returned > GIVE_UP_MS) throw new Error(`a revocation did not arrive within ${GIVE_UP_MS} ms`);
          }
        }));
        samples.push(Math.max(0, Math.max(...refused) - returned));
      }
    } finally {
      await admin.close();
    }
    const sorted = samples.sort((x, y) => x - y);
    return {
      downAfterMs: DOWN_AFTER_MS,
      promotedMs: promotedAt - killedAt,
      uncached503Ms: last503 === 0 ? 0 : last503 - killedAt,
      uncached503s, uncachedRequests, cachedFailures, cachedRequests,
      propagation: { median: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted[sorted.length - 1] ?? NaN },
    };
  } finally {
    await Promise.all(gateways.map(async (g) => { await g.external.close(); await g.child.stop(); }));
    upstream.close();
    set.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

export function printFailover(r: FailoverResult, out: NodeJS.WritableStream = process.stdout): void {
  const ms = (v: number): string => `${v.toFixed(1)} ms`;
  out.write(`\nFailover: Sentinel primary killed (SIGKILL) under traffic, two gateways\n${formatTable(['figure', 'value', 'target'], [
    ['uncached tokens got 503 for', `${ms(r.uncached503Ms)} (${r.uncached503s} of ${r.uncachedRequests} requests)`, `< ${r.downAfterMs + 2_000} ms (down-after + 2 s)`],
    ['  of which Sentinel took (kill to promotion)', ms(r.promotedMs), ''],
    ['cached-token requests failed', `${r.cachedFailures} of ${r.cachedRequests}`, '0'],
    ['revocation propagation after failover, p99', `${ms(r.propagation.p99)} (median ${ms(r.propagation.median)}, max ${ms(r.propagation.max)})`, '< 100 ms'],
  ])}\n`);
}

if (require.main === module) {
  runFailoverBench().then((r) => printFailover(r), (err: unknown) => {
    process.stderr.write(`bench: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.exitCode = 1;
  });
}
