import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Redis from 'ioredis';
import { freePort, waitForPort } from './processes';

const REDIS_SERVER = '/usr/bin/redis-server';
export const NAME = 'mymaster';
/** Sentinel's `down-after-milliseconds`: how long a silent primary goes before it is judged down. */
export const DOWN_AFTER_MS = 1_000;

/** One primary, one replica and three sentinels on loopback; every process is killed by `stop`. */
export interface BenchSentinelSet {
  readonly sentinels: string[];
  readonly primaryPort: number;
  killPrimary(): void;
  /** Resolves once a sentinel names the replica as the primary (polled every 20 ms). */
  waitForNewPrimary(timeoutMs: number): Promise<void>;
  stop(): void;
}

async function command(port: number, ...args: string[]): Promise<unknown> {
  const client = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on('error', () => {});
  try {
    await client.connect();
    return await client.call(args[0]!, ...args.slice(1));
  } finally {
    client.disconnect();
  }
}

async function until(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`${what} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export async function startSentinelSet(dir: string): Promise<BenchSentinelSet> {
  const children: ChildProcess[] = [];
  const server = async (args: (port: number) => string[]): Promise<number> => {
    const port = await freePort();
    children.push(spawn(REDIS_SERVER, args(port), { stdio: 'ignore' }));
    await waitForPort(port);
    return port;
  };
  const data = (port: number): string[] => [
    '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--dbfilename', `dump-${port}.rdb`,
  ];
  const stop = (): void => { for (const c of children) c.kill('SIGKILL'); };
  try {
    const primaryPort = await server(data);
    const replicaPort = await server((port) => [...data(port), '--replicaof', '127.0.0.1', String(primaryPort)]);
    const sentinelPorts: number[] = [];
    for (let i = 0; i < 3; i++) {
      sentinelPorts.push(await server((port) => {
        const file = join(dir, `sentinel-${port}.conf`);
        writeFileSync(file, [
          `port ${port}`, 'bind 127.0.0.1', `dir ${dir}`, `sentinel monitor ${NAME} 127.0.0.1 ${primaryPort} 2`,
          `sentinel down-after-milliseconds ${NAME} ${DOWN_AFTER_MS}`, `sentinel failover-timeout ${NAME} 2000`, '',
        ].join('\n'));
        return [file, '--sentinel'];
      }));
    }
    await until('sentinels did not find the replica and each other', 20_000, async () => {
      for (const port of sentinelPorts) {
        if (((await command(port, 'SENTINEL', 'REPLICAS', NAME)) as unknown[]).length < 1) return false;
        if (((await command(port, 'SENTINEL', 'SENTINELS', NAME)) as unknown[]).length < 2) return false;
      }
      return String(await command(replicaPort, 'INFO', 'replication')).includes('master_link_status:up');
    });
    const primaryNow = async (port: number): Promise<number> => Number(((await command(port, 'SENTINEL', 'GET-MASTER-ADDR-BY-NAME', NAME)) as string[])[1]);
    return {
      sentinels: sentinelPorts.map((p) => `127.0.0.1:${p}`),
      primaryPort,
      killPrimary: () => { children[0]!.kill('SIGKILL'); },
      waitForNewPrimary: (timeoutMs) => until('no new primary', timeoutMs, async () =>
        (await Promise.all(sentinelPorts.map(primaryNow))).some((p) => p === replicaPort)),
      stop,
    };
  } catch (err) {
    stop();
    throw err;
  }
}
