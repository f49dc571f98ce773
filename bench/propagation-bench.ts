/**
 * Revocation propagation: three gateway processes on one private
 * redis-server; a token is revoked through process A's admin API, and B and
 * C are polled back to back until each refuses it. One sample per
 * revocation: from the revoke call returning until the last of B and C
 * refuses (after a few uncounted warm-up revocations). Run alone with `node dist/bench/propagation-bench.js` (after
 * `npm run build`), or as part of `npm run bench`.
 *
 * Environment: PROPAGATION_REVOCATIONS (50).
 */
import { spawn, type ChildProcess } from 'node:child_process';
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
import { freePort, startNode, waitForPort, writeBenchConfig, type Child } from './processes';
import { printLatency, type LatencySummary } from './table';

const ROOT = resolve(__dirname, '..', '..');
const CLI = join(ROOT, 'bin', 'gatehouse.js');
const REDIS_SERVER = '/usr/bin/redis-server';
const PEPPER = 'bench-pepper';
const HOST = 'guarded.bench.localhost';
/** Revocations made first and not counted: the processes' first trips through the code are slow (JIT). */
const WARMUP = 5;
/** A refusal not seen by then counts as a failure of the run, not as a sample. */
const GIVE_UP_MS = 5_000;

interface Gateway {
  readonly child: Child;
  readonly external: Pool;
  readonly admin: string;
}

/** p-th percentile (nearest rank) of sorted values. */
function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

function summarize(samples: readonly number[]): LatencySummary {
  const sorted = [...samples].sort((a, b) => a - b);
  return { median: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted[sorted.length - 1] };
}

async function startRedis(dir: string): Promise<{ url: string; process: ChildProcess }> {
  const port = await freePort();
  const child = spawn(REDIS_SERVER, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
  await waitForPort(port);
  return { url: `redis://127.0.0.1:${port}/0`, process: child };
}

async function startUpstream(): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    req.resume();
    res.end('ok');
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return server;
}

async function startGateway(dir: string, name: string, redisUrl: string, upstream: string): Promise<Gateway> {
  const { file, ports: { external, admin } } = await writeBenchConfig(join(dir, `${name}.yaml`), {
    store: { driver: 'redis', url: redisUrl },
    tokens: { pepper: PEPPER },
    failedAuth: { perMinute: 1_000_000_000 },
    log: { level: 'warn' },
    deployments: [{ name: 'guarded', access: 'protected', protocol: 'http', upstreams: [upstream] }],
  });
  const devNull = openSync('/dev/null', 'w');
  const child = startNode({ cpu: '', args: [CLI, 'serve', '--config', file], stdout: devNull });
  closeSync(devNull);
  await Promise.all([waitForPort(external), waitForPort(admin)]);
  return { child, external: new Pool(`http://127.0.0.1:${external}`, { connections: 1 }), admin: `http://127.0.0.1:${admin}` };
}

async function status(pool: Pool, secret: string): Promise<number> {
  const res = await pool.request({ method: 'GET', path: '/', headers: { host: HOST, authorization: `Bearer ${secret}` } });
  await res.body.dump();
  return res.statusCode;
}

/** Polls back to back until the gateway refuses; resolves with the moment (performance.now()) the refusal arrived. */
async function refusedAt(pool: Pool, secret: string, since: number): Promise<number> {
  for (;;) {
    const code = await status(pool, secret);
    const now = performance.now();
    if (code === 401) return now;
    if (code !== 200) throw new Error(`unexpected status ${code} while waiting for the refusal`);
    if (now - since > GIVE_UP_MS) throw new Error(`the revocation did not arrive within ${GIVE_UP_MS} ms`);
  }
}

/** Runs the benchmark; figures are milliseconds. */
export async function runPropagationBench(revocations = Number(process.env.PROPAGATION_REVOCATIONS ?? 50)): Promise<LatencySummary> {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-propagation-'));
  const redis = await startRedis(dir);
  const upstream = await startUpstream();
  const gateways: Gateway[] = [];
  try {
    const upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
    for (const name of ['a', 'b', 'c']) gateways.push(await startGateway(dir, name, redis.url, upstreamUrl));
    const [a, ...others] = gateways;

    const store = await openStore(loadConfig(join(dir, 'a.yaml')).store);
    const hash = tokenHasher(PEPPER);
    const known = new Set(['guarded']);
    const dev = await createToken(store, hash, { name: 'bench admin', developer: true, owner: 'bench' }, known);
    const users = [];
    for (let i = 0; i < WARMUP + revocations; i++) users.push(await createToken(store, hash, { name: `u${i}`, user: { deployments: ['guarded'] }, owner: 'bench' }, known));
    await store.close();

    const admin = new Pool(a.admin, { connections: 1 });
    const samples: number[] = [];
    try {
      for (const { token, secret } of users) {
        // Each process has the token cached (fresh for its 30 s ttl): only the event can make it refuse now.
        for (const g of others) if ((await status(g.external, secret)) !== 200) throw new Error('a fresh token was refused');
        const res = await admin.request({ method: 'DELETE', path: `/v1/tokens/${token.id}`, headers: { authorization: `Bearer ${dev.secret}` } });
        await res.body.dump();
        const returned = performance.now();
        if (res.statusCode !== 204) throw new Error(`revoke answered ${res.statusCode}`);
        const refused = await Promise.all(others.map((g) => refusedAt(g.external, secret, returned)));
        samples.push(Math.max(0, Math.max(...refused) - returned));
      }
    } finally {
      await admin.close();
    }
    return summarize(samples.slice(WARMUP));
  } finally {
    await Promise.all(gateways.map(async (g) => { await g.external.close(); await g.child.stop(); }));
    upstream.close();
    redis.process.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
}

if (require.main === module) {
  runPropagationBench().then((summary) => {
    printLatency('Revocation propagation to 2 other processes over Redis (ms, 50 revocations)', summary);
  }, (err: unknown) => {
    process.stderr.write(`bench: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.exitCode = 1;
  });
}
