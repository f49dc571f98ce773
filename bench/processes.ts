import { spawn, spawnSync, type ChildProcess, type StdioOptions } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import { cpus } from 'node:os';
import { stringify } from 'yaml';

/**
 * CPU placement: the measured proxy alone on one core, load generator and
 * upstream on the other. On a machine without `taskset` or with one core the
 * processes simply run unpinned.
 */
export interface Placement {
  readonly pinned: boolean;
  readonly proxyCpu: string;
  readonly loadCpu: string;
}

export function placement(): Placement {
  const hasTaskset = spawnSync('taskset', ['--version'], { stdio: 'ignore' }).status === 0;
  const n = cpus().length;
  if (!hasTaskset || n < 2) return { pinned: false, proxyCpu: '', loadCpu: '' };
  return { pinned: true, proxyCpu: '0', loadCpu: String(n - 1) };
}

/** The command line for running `command args` on `cpu` (unpinned when cpu is ''). */
export function pinnedCommand(cpu: string, command: string, args: readonly string[]): [string, string[]] {
  return cpu === '' ? [command, [...args]] : ['taskset', ['-c', cpu, command, ...args]];
}

/** A child process the benchmark started; `stop` kills exactly it. */
export interface Child {
  readonly process: ChildProcess;
  readonly pid: number;
  stop(): Promise<void>;
}

export interface StartOptions {
  readonly cpu: string;
  readonly args: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
  /** stdout of the child: 'pipe' to read a ready line, or a file descriptor (e.g. of /dev/null). */
  readonly stdout?: 'pipe' | number;
}

/** Starts `node ARGS` pinned to a CPU (taskset execs node, so the pid is node's). */
export function startNode(options: StartOptions): Child {
  const [command, args] = pinnedCommand(options.cpu, process.execPath, options.args);
  const stdio: StdioOptions = ['ignore', options.stdout ?? 'pipe', 'pipe'];
  const child = spawn(command, args, { stdio, env: { ...process.env, ...options.env } });
  let stderr = '';
  let stopping = false;
  child.stderr?.on('data', (d: Buffer) => { stderr = (stderr + d.toString()).slice(-4000); });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.once('exit', (code, signal) => {
    if (!stopping && code !== 0) process.stderr.write(`bench: child ${options.args.join(' ')} exited ${code ?? signal}\n${stderr}\n`);
  });
  return {
    process: child,
    pid: child.pid ?? -1,
    stop: async () => {
      stopping = true;
      if (child.exitCode !== null || child.signalCode !== null) return;
      // SIGTERM first, so a gateway drains and writes a --cpu-prof profile; SIGKILL if it lingers.
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Waits for the child's first stdout line of JSON carrying `port`. */
export function readyPort(child: Child, timeoutMs = 15_000): Promise<number> {
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`no ready line within ${timeoutMs} ms: ${out}`)), timeoutMs);
    child.process.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (line === undefined) return;
      clearTimeout(timer);
      resolve((JSON.parse(line) as { port: number }).port);
    });
    child.process.once('exit', (code) => { clearTimeout(timer); reject(new Error(`exited ${code} before listening`)); });
  });
}

/** A port free right now on 127.0.0.1 (another process could take it, which is fine for a benchmark). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Resolves once something accepts TCP connections on the port. */
export async function waitForPort(port: number, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => { socket.destroy(); resolve(true); });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`nothing listening on port ${port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The ports of one gateway process's listeners. */
export interface GatewayPorts {
  readonly external: number;
  readonly internal: number;
  readonly admin: number;
}

/**
 * Writes a config for one benchmarked gateway process — organization `bench`,
 * domain `localhost`, every listener on a free loopback port — with the given
 * store, Deployments and any other keys; returns the file and the ports.
 */
export async function writeBenchConfig(file: string, rest: Record<string, unknown>): Promise<{ file: string; ports: GatewayPorts }> {
  const ports = { external: await freePort(), internal: await freePort(), admin: await freePort() };
  writeFileSync(file, stringify({
    organization: 'bench',
    domain: 'localhost',
    listeners: {
      external: [{ address: `127.0.0.1:${ports.external}` }],
      internal: [{ address: `127.0.0.1:${ports.internal}` }],
      admin: [{ address: `127.0.0.1:${ports.admin}` }],
    },
    // One process, whose pid is the one measured; the workers rows ask for more with --workers.
    workers: 1,
    ...rest,
  }));
  return { file, ports };
}
