import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Redis from 'ioredis';
import { freePort } from './ports';

const REDIS_SERVER = '/usr/bin/redis-server';
const START_ATTEMPTS = 5;
const READY_TIMEOUT_MS = 5_000;

/** A private redis-server for one test file. Never the shared one on 6379. */
export interface TestRedis {
  readonly port: number;
  /** `redis://127.0.0.1:<port>/0` */
  readonly url: string;
  /** Shuts down (SIGTERM) and waits for the process to exit. Idempotent. */
  stop(): Promise<void>;
  /** SIGKILL: a crash, as clients see it. Waits for the exit. */
  kill(): Promise<void>;
  /** Freezes the server (SIGSTOP): connections stay open, nothing answers. */
  pause(): void;
  /** Undoes `pause` (SIGCONT). */
  resume(): void;
  /** Starts a stopped or killed server again on the same port; resolves once PING answers. */
  restart(): Promise<void>;
  /** Runs one command on a short-lived connection of its own. */
  command(name: string, ...args: string[]): Promise<unknown>;
  /** Calls of one command so far (`INFO commandstats`), e.g. `commandCalls('get')`. */
  commandCalls(name: string): Promise<number>;
  /** Every command's call count (`INFO commandstats`), keyed by lower-case name. */
  commandStats(): Promise<Map<string, number>>;
}

/** One raw PING; true on +PONG (or -NOAUTH: up, with a password). Raw so that polling for readiness needs no client library. */
function pingOnce(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    const done = (ok: boolean): void => { socket.destroy(); resolve(ok); };
    socket.setTimeout(500, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (data) => done(/^(\+PONG|-NOAUTH)/.test(data.toString())));
  });
}

export function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** The arguments of a plain, unsaved test server on `port` keeping its files in `dir`. */
export function serverArgs(port: number, dir: string): string[] {
  return [
    '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
    '--dir', dir, '--logfile', '', '--loglevel', 'warning',
  ];
}

async function launch(port: number, dir: string): Promise<ChildProcess> {
  return launchRedis(port, serverArgs(port, dir));
}

/**
 * Spawns redis-server with `args` (which make it listen on `port`); resolves
 * once it answers PING, rejects if it exits first (e.g. port taken).
 */
export async function launchRedis(port: number, args: readonly string[]): Promise<ChildProcess> {
  const child = spawn(REDIS_SERVER, args, { stdio: 'ignore' });
  let gone = false;
  void exited(child).then(() => { gone = true; });
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (gone) throw new Error(`redis-server exited at start on port ${port}`);
    if (await pingOnce(port)) return child;
    await new Promise((r) => setTimeout(r, 20));
  }
  child.kill('SIGKILL');
  throw new Error(`redis-server on port ${port} did not answer PING in ${READY_TIMEOUT_MS} ms`);
}

/** Starts a private redis-server on a free port; call `stop()` in teardown. */
export async function startRedis(): Promise<TestRedis> {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-redis-'));
  let port = 0;
  let child: ChildProcess | undefined;
  for (let attempt = 1; child === undefined; attempt++) {
    port = await freePort();
    try {
      child = await launch(port, dir);
    } catch (err) {
      if (attempt >= START_ATTEMPTS) throw err;
    }
  }
  // A crashed test run must not leave servers behind.
  const reap = (): void => { child?.kill('SIGKILL'); };
  process.once('exit', reap);
  const url = `redis://127.0.0.1:${port}/0`;

  const withClient = async <T>(fn: (client: Redis) => Promise<T>): Promise<T> => {
    const client = new Redis(url, { protocol: 2, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    client.on('error', () => {});
    try {
      await client.connect();
      return await fn(client);
    } finally {
      client.disconnect();
    }
  };
  const commandStats = async (): Promise<Map<string, number>> => {
    const info = await withClient((c) => c.info('commandstats'));
    const stats = new Map<string, number>();
    for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) stats.set(m[1]!.toLowerCase(), Number(m[2]));
    return stats;
  };
  const stopWith = async (signal: NodeJS.Signals): Promise<void> => {
    if (!child) return;
    const c = child;
    child = undefined;
    c.kill('SIGCONT'); // a paused server cannot act on SIGTERM
    c.kill(signal);
    await exited(c);
  };

  return {
    port,
    url,
    stop: async () => {
      await stopWith('SIGTERM');
      process.removeListener('exit', reap);
      rmSync(dir, { recursive: true, force: true });
    },
    kill: () => stopWith('SIGKILL'),
    pause: () => { child?.kill('SIGSTOP'); },
    resume: () => { child?.kill('SIGCONT'); },
    restart: async () => {
      await stopWith('SIGKILL');
      mkdirSync(dir, { recursive: true });
      child = await launch(port, dir);
    },
    command: (name, ...args) => withClient((c) => c.call(name, ...args)),
    commandCalls: async (name) => (await commandStats()).get(name.toLowerCase()) ?? 0,
    commandStats,
  };
}
