/**
 * The processes a soak run kills and restarts: a private redis-server (with
 * an fsync'd append-only file, so a SIGKILL loses no token) and the upstream.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { waitForPort } from './processes';

export class SoakRedis {
  private child: ChildProcess | undefined;
  constructor(readonly port: number, private readonly dir: string) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}/0`;
  }

  async start(): Promise<void> {
    this.child = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, '--save', '',
      '--appendonly', 'yes', '--appendfsync', 'always'], { stdio: 'ignore' });
    await waitForPort(this.port);
  }

  /** SIGKILL: a crash, as its clients see it. */
  async kill(): Promise<void> {
    const child = this.child;
    if (child === undefined || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }

  async stop(): Promise<void> {
    await this.kill();
  }
}

export class SoakUpstream {
  private child: ChildProcess | undefined;
  ports = { http: 0, grpc: 0 };

  async start(): Promise<void> {
    const child = spawn(process.execPath, [join(__dirname, 'soak-upstream.js'), String(this.ports.http), String(this.ports.grpc)], { stdio: ['ignore', 'pipe', 'inherit'] });
    this.child = child;
    this.ports = await new Promise((resolve, reject) => {
      let out = '';
      child.stdout?.on('data', (d: Buffer) => {
        out += d.toString();
        const line = out.split('\n').find((l) => l.startsWith('{'));
        if (line !== undefined) resolve(JSON.parse(line) as { http: number; grpc: number });
      });
      child.once('exit', (code) => reject(new Error(`soak upstream exited ${code}`)));
    });
  }

  /** SIGKILL: the upstream crashes mid-request. */
  async kill(): Promise<void> {
    const child = this.child;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }

  async stop(): Promise<void> {
    await this.kill();
  }
}

/** What the run prints at its start and end for the gateway process. */
export interface Vitals {
  readonly rssMb: number;
  readonly fds: number;
  readonly loopDelayP99Ms: number;
}

export async function vitals(pid: number, adminPort: number): Promise<Vitals> {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  const fds = readdirSync(`/proc/${pid}/fd`).length;
  const metrics = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
  const p99 = Number(/^gatehouse_nodejs_eventloop_lag_p99_seconds (\S+)/m.exec(metrics)?.[1] ?? NaN);
  return { rssMb: rssKb / 1024, fds, loopDelayP99Ms: p99 * 1000 };
}
