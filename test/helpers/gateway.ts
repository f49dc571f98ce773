import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Writable } from 'node:stream';
import { stringify } from 'yaml';
import { cliEntry } from './entry';
import { createToken } from '../../gateway/auth/token-service';
import { tokenHasher } from '../../gateway/auth/token-hash';
import { loadConfig } from '../../gateway/config/load';
import { Gateway } from '../../gateway/gateway';
import { createLogger } from '../../gateway/log';
import type { TokenRecord } from '../../gateway/store/types';

export const PEPPER = 'test-pepper';
export const ORG = 'acme';
export const DOMAIN = 'gw.test';
export const FIXTURES = resolve(__dirname, '..', 'fixtures');

/** The default host of a Deployment in test configs. */
export function hostOf(name: string): string {
  return `${name}.${ORG}.${DOMAIN}`;
}

/** Anything tap's `t` offers that the helpers need: cleanup registration. */
export interface Teardown {
  teardown(fn: () => unknown): void;
}

export interface DeploymentInput {
  name: string;
  access: 'private' | 'protected' | 'public';
  protocol?: 'http' | 'grpc';
  upstreams: string[];
  hosts?: string[];
  forwardAuthorization?: boolean;
  timeouts?: Record<string, string>;
  limits?: { requestsPerMinute?: number; concurrent?: number };
}

export interface GatewayOptions {
  deployments: DeploymentInput[];
  /** Default: an embedded store in a fresh temp dir. */
  store?: { driver: 'embedded'; path?: string } | { driver: 'redis'; url: string; prefix?: string }
    | { driver: 'redis'; sentinels: string[]; name: string; password?: string; prefix?: string }
    | { driver: 'redis'; cluster: string[]; prefix?: string };
  /** TLS on the external and internal listeners (test/fixtures/tls). */
  tls?: boolean;
  /** Any other top-level config keys (cache, timeouts, failedAuth, trustedProxies, shutdown…). */
  extra?: Record<string, unknown>;
  /** Directory for the config file and embedded db (default: a fresh temp dir). */
  dir?: string;
  /** How long the gateway's concurrency slots outlive it (startGateway only). */
  limitLeaseMs?: number;
}

/** Writes a config file with every listener on port 0; returns its path. */
export function writeConfig(options: GatewayOptions): { file: string; dir: string } {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'gatehouse-test-'));
  const tls = options.tls ? { tls: { cert: join(FIXTURES, 'tls', 'server.crt'), key: join(FIXTURES, 'tls', 'server.key') } } : {};
  const store = options.store ?? { driver: 'embedded' };
  const config = {
    organization: ORG,
    domain: DOMAIN,
    listeners: {
      external: [{ address: '127.0.0.1:0', ...tls }],
      internal: [{ address: '127.0.0.1:0', ...tls }],
      admin: [{ address: '127.0.0.1:0' }],
    },
    store: store.driver === 'embedded' ? { driver: 'embedded', path: store.path ?? join(dir, 'gatehouse.db') } : store,
    tokens: { pepper: PEPPER },
    log: { level: 'info' },
    // One process, as the tests written before workers expect; tests of workers ask for more.
    workers: 1,
    deployments: options.deployments,
    ...options.extra,
  };
  const file = join(dir, 'gatehouse.yaml');
  writeFileSync(file, stringify(config));
  return { file, dir };
}

export interface TestGateway {
  readonly gateway: Gateway;
  readonly file: string;
  readonly dir: string;
  /** Base URLs, e.g. `http://127.0.0.1:41234`. */
  readonly external: string;
  readonly internal: string;
  readonly admin: string;
  readonly externalPort: number;
  readonly internalPort: number;
  readonly adminPort: number;
  /** Every log line the gateway wrote, parsed, and the raw text. */
  readonly logs: Record<string, unknown>[];
  readonly rawLog: () => string;
  /** Creates a token in the gateway's store; returns the secret and the record. */
  mint(input: MintInput): Promise<{ secret: string; token: TokenRecord }>;
  stop(): Promise<void>;
}

/** Starts a gateway in this process on a fresh config; stopped at teardown. */
export async function startGateway(t: Teardown, options: GatewayOptions): Promise<TestGateway> {
  const { file, dir } = writeConfig(options);
  const logs: Record<string, unknown>[] = [];
  let raw = '';
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      const text = chunk.toString();
      raw += text;
      for (const line of text.split('\n')) if (line.trim()) logs.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const gateway = await Gateway.start(loadConfig(file), { logger: createLogger('info', sink), limitLeaseMs: options.limitLeaseMs });
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await gateway.stop(1000);
  };
  t.teardown(async () => {
    await stop();
    if (!options.dir) rmSync(dir, { recursive: true, force: true });
  });
  const scheme = options.tls ? 'https' : 'http';
  const externalPort = gateway.port('external');
  const internalPort = gateway.port('internal');
  const adminPort = gateway.port('admin');
  return {
    gateway, file, dir, logs, rawLog: () => raw,
    external: `${scheme}://127.0.0.1:${externalPort}`,
    internal: `${scheme}://127.0.0.1:${internalPort}`,
    admin: `http://127.0.0.1:${adminPort}`,
    externalPort, internalPort, adminPort,
    mint: (input) => mintToken(gateway, input),
    stop,
  };
}

/** Creates a token directly in a running gateway's store. */
export interface MintInput {
  name?: string;
  user?: string[];
  developer?: boolean;
  expiresAt?: string;
  owner?: string;
  /** As the admin API takes them: `{requests_per_minute, concurrent}`. */
  limits?: { requests_per_minute?: number; concurrent?: number };
}

export async function mintToken(gateway: Gateway, input: MintInput): Promise<{ secret: string; token: TokenRecord }> {
  const { runtime } = gateway;
  const known = new Set([...runtime.routes.routes()].map((r) => r.name));
  return createToken(runtime.store, tokenHasher(PEPPER), {
    name: input.name ?? 'test token',
    user: input.user ? { deployments: input.user } : undefined,
    developer: input.developer ?? false,
    expires_at: input.expiresAt,
    limits: input.limits,
    owner: input.owner ?? 'tester',
  }, known);
}

export type ListenerPorts = Record<'external' | 'internal' | 'admin', number>;

/** The ports in the `gatehouse started` line of a serving process's output, once it is there. */
export function startedPorts(output: string): ListenerPorts | undefined {
  const line = output.split('\n').find((l) => l.includes('"gatehouse started"'));
  if (line === undefined) return undefined;
  const parsed = JSON.parse(line) as { listeners: { kind: keyof ListenerPorts; address: string }[] };
  const found = { external: 0, internal: 0, admin: 0 };
  for (const l of parsed.listeners) if (found[l.kind] === 0) found[l.kind] = Number(l.address.split(':').pop());
  return found;
}

export interface GatewayProcess {
  readonly child: ChildProcess;
  readonly ports: ListenerPorts;
  /** Everything the process wrote to stdout so far. */
  readonly output: () => string;
  /** Sends a signal and waits for the exit; resolves with the exit code. */
  signal(signal: NodeJS.Signals): Promise<number | null>;
  exited: Promise<number | null>;
}

/**
 * Runs `gatehouse serve --config FILE [ARGS...]` in a separate OS process (with the
 * same TypeScript loader tap gives this one). Resolves once it listens;
 * `whileStarting` sees every chunk of output before then.
 */
export async function spawnGateway(
  t: Teardown, file: string, env: NodeJS.ProcessEnv = {}, whileStarting?: (child: ChildProcess, output: string) => void, args: string[] = [],
): Promise<GatewayProcess> {
  const entry = cliEntry('serve.ts');
  const child = fork(entry.modulePath, [...entry.prefixArgs, '--config', file, ...args], {
    execArgv: entry.execArgv,
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    env: { ...process.env, ...env },
  });
  let out = '';
  let started = false;
  const seen = (d: Buffer): void => {
    out += d.toString();
    if (!started) whileStarting?.(child, out);
  };
  child.stdout?.on('data', seen);
  child.stderr?.on('data', seen);
  const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
  });
  const ports = await new Promise<ListenerPorts>((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`gateway did not start:\n${out}`)), 45_000);
    const check = (): void => {
      const found = startedPorts(out);
      if (found === undefined) return;
      clearTimeout(timer);
      started = true;
      child.stdout?.off('data', check);
      res(found);
    };
    child.stdout?.on('data', check);
    child.once('exit', (code) => { clearTimeout(timer); rej(new Error(`gateway exited ${code}:\n${out}`)); });
  });
  return {
    child, ports, output: () => out, exited,
    signal: async (signal) => {
      child.kill(signal);
      return exited;
    },
  };
}
