/**
 * `npm run bench [-- --only http|grpc|propagation]`: the HTTP table (wrk
 * against upstream, naive proxy and Gatehouse), then the gRPC rows and the
 * propagation figures when those sections are present.
 *
 * Environment: BENCH_ROUNDS (5), BENCH_SECONDS (5), BENCH_WARMUP (3 s per row),
 * BENCH_CONNECTIONS (50), BENCH_ROWS (comma-separated row ids, default all),
 * BENCH_GATEWAY_NODE_ARGS (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof").
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { formatHttpReport, runHttpBench, type RowId } from './http-bench';
import { printLatency, printRows, type BenchRow, type LatencySummary } from './table';

const SECTIONS = ['http', 'grpc', 'propagation'] as const;
type Section = (typeof SECTIONS)[number];

interface GrpcBenchModule {
  runGrpcBench(options: { seconds: number }): Promise<BenchRow[]>;
}
interface PropagationBenchModule {
  runPropagationBench(): Promise<LatencySummary>;
}

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
    else throw new Error(`unknown argument "${arg}" (usage: npm run bench -- [--only http|grpc|propagation])`);
  }
  const names = only.flatMap((o) => o.split(','));
  for (const name of names) {
    if (!(SECTIONS as readonly string[]).includes(name)) throw new Error(`--only must be one of ${SECTIONS.join(', ')} (got "${name}")`);
  }
  return names.length ? (names as Section[]) : [...SECTIONS];
}

/** A compiled section module beside this file, or undefined when that section is not written (yet). */
function optionalModule<T>(file: string): T | undefined {
  const path = join(__dirname, file);
  // A static import would not compile while the section does not exist.
  return existsSync(path) ? (require(path) as T) : undefined;
}

async function main(): Promise<number> {
  const sections = sectionsFromArgs(process.argv.slice(2));
  const explicit = process.argv.length > 2;
  const seconds = numberFromEnv('BENCH_SECONDS', 5);
  const log = (line: string): void => void process.stderr.write(`bench: ${line}\n`);
  let status = 0;

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
      gatewayNodeArgs: (process.env.BENCH_GATEWAY_NODE_ARGS ?? '').split(' ').filter(Boolean),
      only: process.env.BENCH_ROWS ? (process.env.BENCH_ROWS.split(',') as RowId[]) : undefined,
      log,
    });
    process.stdout.write(`\n${formatHttpReport(result)}\n`);
  }

  if (sections.includes('grpc')) {
    const grpc = optionalModule<GrpcBenchModule>('grpc-bench.js');
    if (grpc) printRows('gRPC', await grpc.runGrpcBench({ seconds }));
    else if (explicit) { log('no gRPC benchmark (bench/grpc-bench.ts) in this build'); status = 1; }
  }

  if (sections.includes('propagation')) {
    const propagation = optionalModule<PropagationBenchModule>('propagation-bench.js');
    if (propagation) printLatency('Propagation of a change to every process (ms)', await propagation.runPropagationBench());
    else if (explicit) { log('no propagation benchmark (bench/propagation-bench.ts) in this build'); status = 1; }
  }
  return status;
}

main().then((code) => { process.exitCode = code; }, (err: unknown) => {
  process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
