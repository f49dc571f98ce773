import { execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Redis from 'ioredis';
import { freePort } from './ports';
import { exited, launchRedis, serverArgs as plainArgs } from './redis';

/** Several servers share one folder: each its own RDB file. */
const serverArgs = (port: number, dir: string): string[] => [...plainArgs(port, dir), '--dbfilename', `dump-${port}.rdb`];

const run = promisify(execFile);
const START_ATTEMPTS = 5;

/** One redis-server (or sentinel) process of a topology. */
export interface TopologyNode {
  readonly port: number;
  /** `127.0.0.1:<port>` */
  readonly address: string;
  /** SIGKILL: a crash, as clients see it. Waits for the exit. Idempotent. */
  kill(): Promise<void>;
  /** Freezes (SIGSTOP) or thaws (SIGCONT) the process. */
  pause(): void;
  resume(): void;
  /** Runs one command on a short-lived connection of its own. */
  command(name: string, ...args: string[]): Promise<unknown>;
}

async function startNode(args: (port: number) => string[], password?: string, fixedPort?: number): Promise<TopologyNode> {
  let child: ChildProcess | undefined;
  let port = 0;
  for (let attempt = 1; child === undefined; attempt++) {
    port = fixedPort ?? await freePort();
    try {
      child = await launchRedis(port, args(port));
    } catch (err) {
      if (attempt >= START_ATTEMPTS || fixedPort !== undefined) throw err;
    }
  }
  const reap = (): void => { child?.kill('SIGKILL'); };
  process.once('exit', reap);
  return {
    port,
    address: `127.0.0.1:${port}`,
    kill: async () => {
      const c = child;
      child = undefined;
      process.removeListener('exit', reap);
      if (!c) return;
      c.kill('SIGKILL');
      await exited(c);
    },
    pause: () => { child?.kill('SIGSTOP'); },
    resume: () => { child?.kill('SIGCONT'); },
    command: async (name, ...rest) => {
      const client = new Redis({ port, host: '127.0.0.1', password, protocol: 2, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      client.on('error', () => {});
      try {
        await client.connect();
        return await client.call(name, ...rest);
      } finally {
        client.disconnect();
      }
    },
  };
}

async function waitUntil(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`${what}: not so after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export interface SentinelSet {
  /** The primary's name in the Sentinel config. */
  readonly name: string;
  /** `host:port` of every sentinel. */
  readonly sentinels: string[];
  /** The data nodes' password, when started with one. */
  readonly password?: string;
  /** The data nodes, primary first (as started). */
  readonly nodes: TopologyNode[];
  readonly sentinelNodes: TopologyNode[];
  /** The primary's port as the first sentinel reports it. */
  primaryPort(): Promise<number>;
  /** Resolves with the new primary's port once every sentinel names a primary other than `oldPort`. */
  waitForNewPrimary(oldPort: number, timeoutMs: number): Promise<number>;
  stop(): Promise<void>;
}

/** Sentinel timings: quick failovers for tests (and the bench). */
export const DOWN_AFTER_MS = 1_000;
const FAILOVER_TIMEOUT_MS = 2_000;

/**
 * One primary, `replicas` replicas and `sentinels` sentinels (quorum: a
 * majority) on free ports, a primary marked down after {@link DOWN_AFTER_MS}.
 * Resolves once every sentinel knows the replicas and the other sentinels.
 */
export async function startSentinelSet(
  options: { replicas?: number; sentinels?: number; password?: string; sentinelPorts?: number[] } = {},
): Promise<SentinelSet> {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-sentinel-'));
  const name = 'mymaster';
  const { password } = options;
  const auth = password === undefined ? [] : ['--requirepass', password, '--masterauth', password];
  const nodes: TopologyNode[] = [];
  const sentinelNodes: TopologyNode[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all([...nodes, ...sentinelNodes].map((n) => n.kill()));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const primary = await startNode((port) => [...serverArgs(port, dir), ...auth], password);
    nodes.push(primary);
    for (let i = 0; i < (options.replicas ?? 1); i++) {
      nodes.push(await startNode((port) => [...serverArgs(port, dir), ...auth, '--replicaof', '127.0.0.1', String(primary.port)], password));
    }
    const count = options.sentinelPorts?.length ?? options.sentinels ?? 3;
    for (let i = 0; i < count; i++) {
      sentinelNodes.push(await startNode((port) => {
        const file = join(dir, `sentinel-${port}.conf`);
        writeFileSync(file, [
          `port ${port}`, 'bind 127.0.0.1', `dir ${dir}`,
          `sentinel monitor ${name} 127.0.0.1 ${primary.port} ${Math.floor(count / 2) + 1}`,
          `sentinel down-after-milliseconds ${name} ${DOWN_AFTER_MS}`,
          `sentinel failover-timeout ${name} ${FAILOVER_TIMEOUT_MS}`,
          ...(password === undefined ? [] : [`sentinel auth-pass ${name} ${password}`]),
          '',
        ].join('\n'));
        return [file, '--sentinel', '--logfile', '', '--loglevel', 'warning'];
      }, undefined, options.sentinelPorts?.[i]));
    }
    const replicas = nodes.length - 1;
    await waitUntil('sentinels discovered each other and the replicas', 20_000, async () => {
      for (const s of sentinelNodes) {
        const known = (await s.command('SENTINEL', 'REPLICAS', name)) as unknown[];
        const peers = (await s.command('SENTINEL', 'SENTINELS', name)) as unknown[];
        if (known.length < replicas || peers.length < count - 1) return false;
      }
      // The replica has its copy: a write now is replicated, not lost in a failover.
      const info = String(await nodes[1]?.command('INFO', 'replication') ?? 'master_link_status:up');
      return info.includes('master_link_status:up');
    });
  } catch (err) {
    await stop();
    throw err;
  }
  const primaryOf = async (s: TopologyNode): Promise<number> => Number(((await s.command('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', name)) as string[])[1]);
  return {
    name, password, nodes, sentinelNodes,
    sentinels: sentinelNodes.map((s) => s.address),
    primaryPort: () => primaryOf(sentinelNodes[0]!),
    waitForNewPrimary: async (oldPort, timeoutMs) => {
      await waitUntil('a new primary', timeoutMs, async () => {
        const ports = await Promise.all(sentinelNodes.map(primaryOf));
        return ports.every((p) => p !== oldPort && p === ports[0]);
      });
      return primaryOf(sentinelNodes[0]!);
    },
    stop,
  };
}

export interface TestCluster {
  /** `host:port` of every primary. */
  readonly seeds: string[];
  readonly nodes: TopologyNode[];
  /** The node serving `slot` now, as the first live node reports it. */
  ownerOf(slot: number): Promise<TopologyNode>;
  /** The hash slot of a key, as Redis computes it. */
  slotOf(key: string): Promise<number>;
  /** `redis-cli --cluster reshard`: moves `slots` slots from one node to another (the lowest-numbered first). */
  reshard(from: TopologyNode, to: TopologyNode, slots: number): Promise<void>;
  stop(): Promise<void>;
}

/**
 * `primaries` cluster-enabled servers joined by `redis-cli --cluster create`,
 * no replicas. `cluster-require-full-coverage no`: a dead node fails only its
 * own slots (with the default, every node refuses every command).
 */
export async function startCluster(primaries = 3, ports: number[] = []): Promise<TestCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-cluster-'));
  const nodes: TopologyNode[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(nodes.map((n) => n.kill()));
    rmSync(dir, { recursive: true, force: true });
  };
  const live = async (): Promise<TopologyNode> => {
    for (const n of nodes) if (await n.command('PING').then(() => true, () => false)) return n;
    throw new Error('no cluster node answers');
  };
  const idOf = async (n: TopologyNode): Promise<string> => String(await n.command('CLUSTER', 'MYID'));
  try {
    for (let i = 0; i < primaries; i++) {
      nodes.push(await startNode((port) => [
        ...serverArgs(port, dir), '--cluster-enabled', 'yes', '--cluster-config-file', join(dir, `nodes-${port}.conf`),
        '--cluster-node-timeout', '1000', '--cluster-require-full-coverage', 'no',
      ], undefined, ports[i]));
    }
    await run('redis-cli', ['--cluster', 'create', ...nodes.map((n) => n.address), '--cluster-replicas', '0', '--cluster-yes'], { timeout: 30_000 });
    await waitUntil('every node sees the whole cluster', 20_000, async () => {
      for (const n of nodes) {
        const info = String(await n.command('CLUSTER', 'INFO'));
        if (!info.includes('cluster_state:ok') || !info.includes(`cluster_known_nodes:${primaries}`)) return false;
      }
      return true;
    });
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    seeds: nodes.map((n) => n.address),
    nodes,
    ownerOf: async (slot) => {
      const slots = (await (await live()).command('CLUSTER', 'SLOTS')) as [number, number, [string, number]][];
      const range = slots.find(([from, to]) => slot >= from && slot <= to);
      const found = nodes.find((n) => n.port === range?.[2][1]);
      if (!found) throw new Error(`no node serves slot ${slot}`);
      return found;
    },
    slotOf: async (key) => Number(await (await live()).command('CLUSTER', 'KEYSLOT', key)),
    reshard: async (from, to, slots) => {
      await run('redis-cli', [
        '--cluster', 'reshard', from.address, '--cluster-from', await idOf(from), '--cluster-to', await idOf(to),
        '--cluster-slots', String(slots), '--cluster-yes',
      ], { timeout: 60_000 });
    },
    stop,
  };
}
