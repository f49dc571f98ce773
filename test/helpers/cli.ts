import { fork } from 'node:child_process';
import { cliEntry } from './entry';

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** CLI processes at once: each compiles its TypeScript at start, and the machine has 2 cores. */
const MAX_CONCURRENT = 3;
let running = 0;
const waiting: (() => void)[] = [];

async function slot(): Promise<() => void> {
  if (running >= MAX_CONCURRENT) await new Promise<void>((resolve) => waiting.push(resolve));
  running++;
  return () => {
    running--;
    waiting.shift()?.();
  };
}

/**
 * Runs `gatehouse ARGS...` in a child process (test/fixtures/cli.ts, under
 * the test's TypeScript loader) with GATEHOUSE_HOME set; resolves on exit.
 * Calls beyond a few at once queue.
 */
export async function runCli(args: string[], env: NodeJS.ProcessEnv, timeoutMs = 60_000, cwd?: string): Promise<CliResult> {
  const release = await slot();
  try {
    return await spawnCli(args, env, timeoutMs, cwd);
  } finally {
    release();
  }
}

function spawnCli(args: string[], env: NodeJS.ProcessEnv, timeoutMs: number, cwd: string | undefined): Promise<CliResult> {
  const entry = cliEntry('cli.ts');
  const child = fork(entry.modulePath, [...entry.prefixArgs, ...args], {
    execArgv: entry.execArgv,
    cwd,
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    env: { ...process.env, ...env },
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => { stdout += d.toString(); });
  child.stderr?.on('data', (d: Buffer) => { stderr += d.toString(); });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`gatehouse ${args.join(' ')} did not exit in ${timeoutMs} ms\n${stdout}\n${stderr}`));
    }, timeoutMs);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
