/**
 * `npm run bench [-- --only http|grpc|h2load|propagation|workers|limits|failover]` (or a section's name
 * alone): the HTTP table (wrk against upstream, naive proxy, the platform floors and Gatehouse),
 * then the gRPC rows (grpc-js client), the gRPC unary rows with h2load as the client, the
 * propagation figures, Gatehouse with 1 and 2 workers against nginx with as many, the limits rows (cost of a
 * check; fleet accuracy, BENCH_FLEET_SECONDS, 60) and the Sentinel failover figures.
 *
 * Environment: BENCH_ROUNDS (5), BENCH_SECONDS (5), BENCH_WARMUP (3 s per row),
 * BENCH_CONNECTIONS (50), BENCH_ROWS (comma-separated row ids, default all),
 * BENCH_GATEWAY_NODE_ARGS (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof").
 */
import { spawnSync } from 'node:child_process';
import { printFailover, runFailoverBench } from './failover-bench';
import { runGrpcBench } from './grpc-bench';
import { runH2loadBench } from './h2load-bench';
import { formatHttpReport, ROW_IDS, runHttpBench, type RowId } from './http-bench';
import { formatLimitsReport, runLimitsBench } from './limits-bench';
import { runPropagationBench } from './propagation-bench';
import { printLatency, printRows } from './table';
import { formatWorkersReport, runWorkersBench } from './workers-bench';

const SECTIONS = ['http', 'grpc', 'h2load', 'propagation', 'workers', 'limits', 'failover'] as const;
type Section = (typeof SECTIONS)[number];

function numberFromEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0) throw new Error(`${name} must be a non-negative number (got "${raw}")`);
  return value;
}

function sectionsFromArgs(argv: readonly string[]): Section[] {
  const only: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--only') only.push(argv[++i] ?? '');
    else if (arg.startsWith('--only=')) only.push(arg.slice('--only='.length));
    else if ((SECTIONS as readonly string[]).includes(arg)) only.push(arg); // `node dist/bench/run.js failover`
    else throw new Error(`unknown argument "${arg}" (usage: npm run bench -- [--only ${SECTIONS.join('|')}])`);
  }
  const names = only.flatMap((o) => o.split(','));
  for (const name of names) {
    if (!(SECTIONS as readonly string[]).includes(name)) throw new Error(`--only must be one of ${SECTIONS.join(', ')} (got "${name}")`);
  }
  return names.length ? (names as Section[]) : [...SECTIONS];
}

function rowsFromEnv(): RowId[] | undefined {
  const raw = process.env.BENCH_ROWS;
  if (!raw) return undefined;
  const rows = raw.split(',');
  for (const row of rows) {
    if (!(ROW_IDS as readonly string[]).includes(row)) throw new Error(`BENCH_ROWS: unknown row "${row}" (rows: ${ROW_IDS.join(', ')})`);
  }
  return rows as RowId[];
}

async function main(): Promise<number> {
  const sections = sectionsFromArgs(process.argv.slice(2));
  const seconds = numberFromEnv('BENCH_SECONDS', 5);
  const log = (line: string): void => void process.stderr.write(`bench: ${line}\n`);
  const gatewayNodeArgs = (process.env.BENCH_GATEWAY_NODE_ARGS ?? '').split(' ').filter(Boolean);

  if (sections.includes('http')) {
    if (spawnSync('wrk', ['--version'], { stdio: 'ignore' }).error) {
      log('wrk not found: install it (Debian: apt-get install wrk)');
      return 1;
    }
    const result = await runHttpBench({
      rounds: numberFromEnv('BENCH_ROUNDS', 5),
      seconds,
      warmupSeconds: numberFromEnv('BENCH_WARMUP', 3),
      connections: numberFromEnv('BENCH_CONNECTIONS', 50),
      gatewayNodeArgs,
      only: rowsFromEnv(),
      log,
    });
    process.stdout.write(`\n${formatHttpReport(result)}\n`);
  }

  if (sections.includes('grpc')) printRows('gRPC', await runGrpcBench({ seconds }));
  if (sections.includes('h2load')) {
    for (const tool of ['h2load', 'wrk']) {
      if (spawnSync(tool, ['--version'], { stdio: 'ignore' }).error) {
        log(`${tool} not found: install it (Debian: apt-get install ${tool === 'h2load' ? 'nghttp2-client' : 'wrk'})`);
        return 1;
      }
    }
    const rows = await runH2loadBench({ rounds: numberFromEnv('BENCH_ROUNDS', 5), seconds, gatewayNodeArgs, log: (line) => log(`h2load: ${line}`) });
    printRows('gRPC unary with a fast client (h2load)', rows);
  }
  if (sections.includes('propagation')) printLatency('Propagation of a change to every process (ms)', await runPropagationBench());
  if (sections.includes('limits')) {
    const limitsOptions = {
      rounds: numberFromEnv('BENCH_ROUNDS', 5), seconds, connections: numberFromEnv('BENCH_CONNECTIONS', 50),
      fleetSeconds: numberFromEnv('BENCH_FLEET_SECONDS', 60), log,
    };
    process.stdout.write(`\n${formatLimitsReport(await runLimitsBench(limitsOptions), limitsOptions)}\n`);
  }
  if (sections.includes('workers')) {
    const result = await runWorkersBench({
      rounds: numberFromEnv('BENCH_ROUNDS', 5),
      seconds,
      warmupSeconds: numberFromEnv('BENCH_WARMUP', 3),
      connections: numberFromEnv('BENCH_CONNECTIONS', 50),
      log,
    });
    process.stdout.write(`\n${formatWorkersReport(result)}\n`);
  }
  if (sections.includes('failover')) printFailover(await runFailoverBench());
  return 0;
}

main().then((code) => { process.exitCode = code; }, (err: unknown) => {
  process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
