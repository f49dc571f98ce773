/**
 * Workers: Gatehouse on the public route with one and with two workers, and
 * nginx proxying the same upstream with `worker_processes` 1 and 2 (keep-alive
 * to the upstream). Nothing is pinned: two workers need both cores of a
 * two-core machine, so wrk and the upstream share them with the workers, and
 * req/s and CPU per request are reported as ratios to nginx at the same
 * worker count, taken per round and reported as medians. CPU is the sum over
 * every process of the proxy (supervisor and workers; nginx's master and workers).
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cpuSeconds } from './cpu-time';
import { GatehouseBench, PUBLIC_HOST } from './gatehouse-setup';
import { freePort, readyPort, startNode, waitForPort, type Child } from './processes';
import { formatRatio, formatRps, formatTable, median } from './table';
import { runWrk } from './wrk';

const NGINX = '/usr/sbin/nginx';

export interface WorkersBenchOptions {
  readonly rounds: number;
  readonly seconds: number;
  readonly warmupSeconds: number;
  readonly connections: number;
  readonly log: (line: string) => void;
}

interface Proxy {
  readonly name: string;
  readonly port: number;
  readonly headers: readonly string[];
  /** The proxy's main process; its children are counted too. */
  readonly pid: number;
}

interface Sample {
  readonly rps: number;
  readonly cpuUsPerRequest: number;
}

/** CPU seconds of a process and its direct children (a supervisor's workers, nginx's workers). */
function treeCpuSeconds(pid: number): number {
  let children: number[] = [];
  try {
    children = execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' }).split('\n').filter(Boolean).map(Number);
  } catch {
    children = [];
  }
  return [pid, ...children].reduce((sum, p) => sum + cpuSeconds(p), 0);
}

/** nginx in the foreground with its own prefix and config: `worker_processes` workers, keep-alive to the upstream. */
async function startNginx(dir: string, workers: number, upstreamPort: number): Promise<{ child: Child; port: number }> {
  const prefix = join(dir, `nginx-${workers}`);
  mkdirSync(join(prefix, 'logs'), { recursive: true });
  const port = await freePort();
  writeFileSync(join(prefix, 'nginx.conf'), `
worker_processes ${workers};
daemon off;
pid ${prefix}/nginx.pid;
error_log ${prefix}/logs/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${prefix}/body;
  proxy_temp_path ${prefix}/proxy;
  fastcgi_temp_path ${prefix}/fastcgi;
  uwsgi_temp_path ${prefix}/uwsgi;
  scgi_temp_path ${prefix}/scgi;
  upstream backend { server 127.0.0.1:${upstreamPort}; keepalive 64; }
  server {
    listen 127.0.0.1:${port};
    location / { proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
`);
  const process = spawn(NGINX, ['-p', prefix, '-c', join(prefix, 'nginx.conf'), '-e', join(prefix, 'logs', 'error.log')], { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => process.once('exit', () => resolve()));
  const child: Child = {
    process, pid: process.pid ?? -1,
    stop: async () => {
      if (process.exitCode !== null || process.signalCode !== null) return;
      // SIGQUIT: nginx's graceful stop.
      process.kill('SIGQUIT');
      const timer = setTimeout(() => process.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
  await waitForPort(port);
  return { child, port };
}

export interface WorkersBenchResult {
  readonly rows: { name: string; rps: number; cpuUsPerRequest: number; rpsVsNginx: number; cpuVsNginx: number }[];
  /** Median per round of 2 workers' CPU per request over 1 worker's (target ≤ 1.1). */
  readonly twoOverOne: number;
  readonly options: WorkersBenchOptions;
}

export async function runWorkersBench(options: WorkersBenchOptions): Promise<WorkersBenchResult> {
  const children: Child[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-workers-bench-'));
  const upstream = startNode({ cpu: '', args: [join(__dirname, 'upstream-server.js')] });
  children.push(upstream);
  const upstreamPort = await readyPort(upstream);
  const gatehouse = new GatehouseBench(`http://127.0.0.1:${upstreamPort}`);
  try {
    const proxies: Proxy[] = [];
    for (const workers of [1, 2]) {
      // The public row's log level (warn): no line per request, as nginx with access_log off.
      const { file, port } = await gatehouse.writeConfig(`gatehouse-${workers}w`, 'warn');
      const gw = await gatehouse.start(file, port, 'warn', '', [], ['--workers', String(workers)]);
      proxies.push({ name: `gatehouse ${workers}w`, port, headers: [`Host: ${PUBLIC_HOST}`], pid: gw.child.pid });
      const nginx = await startNginx(dir, workers, upstreamPort);
      children.push(nginx.child);
      proxies.push({ name: `nginx ${workers}w`, port: nginx.port, headers: [], pid: nginx.child.pid });
    }
    const measure = async (proxy: Proxy, seconds: number): Promise<Sample> => {
      const before = treeCpuSeconds(proxy.pid);
      const result = await runWrk({ url: `http://127.0.0.1:${proxy.port}/`, seconds, connections: options.connections, headers: proxy.headers, cpu: '' });
      if (result.non2xx > 0 || result.socketErrors > 0) throw new Error(`${proxy.name}: ${result.non2xx} non-2xx, ${result.socketErrors} socket errors`);
      return { rps: result.rps, cpuUsPerRequest: ((treeCpuSeconds(proxy.pid) - before) * 1e6) / result.requests };
    };
    if (options.warmupSeconds > 0) for (const proxy of proxies) await measure(proxy, options.warmupSeconds);
    const samples = new Map<string, Sample[]>(proxies.map((p) => [p.name, []]));
    for (let round = 1; round <= options.rounds; round++) {
      const parts: string[] = [];
      for (const proxy of round % 2 === 1 ? proxies : [...proxies].reverse()) {
        const sample = await measure(proxy, options.seconds);
        samples.get(proxy.name)?.push(sample);
        parts.push(`${proxy.name} ${formatRps(sample.rps)} (${sample.cpuUsPerRequest.toFixed(0)} µs cpu/req)`);
      }
      options.log(`workers round ${round}/${options.rounds}: ${parts.join(', ')}`);
    }
    const of = (name: string): Sample[] => samples.get(name) ?? [];
    const rows = [1, 2].flatMap((workers) => {
      const gw = of(`gatehouse ${workers}w`);
      const ng = of(`nginx ${workers}w`);
      return [
        { name: `gatehouse ${workers}w`, rps: median(gw.map((s) => s.rps)), cpuUsPerRequest: median(gw.map((s) => s.cpuUsPerRequest)),
          rpsVsNginx: median(gw.map((s, i) => s.rps / ng[i].rps)), cpuVsNginx: median(gw.map((s, i) => s.cpuUsPerRequest / ng[i].cpuUsPerRequest)) },
        { name: `nginx ${workers}w`, rps: median(ng.map((s) => s.rps)), cpuUsPerRequest: median(ng.map((s) => s.cpuUsPerRequest)), rpsVsNginx: 1, cpuVsNginx: 1 },
      ];
    });
    const one = of('gatehouse 1w');
    const twoOverOne = median(of('gatehouse 2w').map((s, i) => s.cpuUsPerRequest / one[i].cpuUsPerRequest));
    return { rows, twoOverOne, options };
  } finally {
    await gatehouse.close();
    await Promise.all(children.map((c) => c.stop()));
    rmSync(dir, { recursive: true, force: true });
  }
}

export function formatWorkersReport(result: WorkersBenchResult): string {
  const { options } = result;
  const table = formatTable(
    ['row', 'req/s', 'CPU µs/req', 'req/s vs nginx', 'CPU/req vs nginx'],
    result.rows.map((r) => [r.name, formatRps(r.rps), r.cpuUsPerRequest.toFixed(1), formatRatio(r.rpsVsNginx), formatRatio(r.cpuVsNginx)]),
  );
  const verdict = result.twoOverOne <= 1.1 ? 'met' : 'NOT met';
  return [
    `Workers: public route, wrk -t1 -c${options.connections}, ${options.rounds} rounds of ${options.seconds} s, nothing pinned; ratios are medians of per-round ratios`,
    table,
    `2 workers' CPU per request / 1 worker's: ${formatRatio(result.twoOverOne)} (target <= 1.10x: ${verdict})`,
  ].join('\n');
}
