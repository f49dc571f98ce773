import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startNode, waitForPort, writeBenchConfig, type Child } from './processes';

const ROOT = resolve(__dirname, '..', '..');
const CLI = join(ROOT, 'bin', 'gatehouse.js');
export const ORGANIZATION = 'bench';
export const DOMAIN = 'localhost';
export const PUBLIC_HOST = `open.${ORGANIZATION}.${DOMAIN}`;
export const PROTECTED_HOST = `guarded.${ORGANIZATION}.${DOMAIN}`;

/** A gateway process and the external port it serves. */
export interface GatehouseProcess {
  readonly child: Child;
  readonly port: number;
  readonly logLevel: string;
}

/** The benchmark's gateways and what they share: a temp dir, an embedded store, one token. */
export class GatehouseBench {
  readonly dir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-'));
  private readonly children: Child[] = [];

  constructor(private readonly upstream: string) {}

  /** Writes a config for one gateway process (its own ports, the shared store); returns the file. */
  async writeConfig(name: string, logLevel: string): Promise<{ file: string; port: number }> {
    const { file, ports } = await writeBenchConfig(join(this.dir, `${name}.yaml`), {
      store: { driver: 'embedded', path: join(this.dir, 'gatehouse.db') },
      tokens: { pepper: 'bench-pepper' },
      // The malformed-token row sends one failure per request from one address: lift the limiter out of the way.
      failedAuth: { perMinute: 1_000_000_000 },
      log: { level: logLevel },
      deployments: [
        { name: 'open', access: 'public', protocol: 'http', upstreams: [this.upstream] },
        { name: 'guarded', access: 'protected', protocol: 'http', upstreams: [this.upstream] },
      ],
    });
    return { file, port: ports.external };
  }

  /** Mints a user token for the protected Deployment through the CLI, the way an operator would. */
  mintToken(configFile: string): string {
    const out = execFileSync(process.execPath, [CLI, 'token', 'create', '--config', configFile, '--name', 'bench', '--user-deployment', 'guarded', '--json'], { encoding: 'utf8' });
    return (JSON.parse(out) as { secret: string }).secret;
  }

  /** Runs `gatehouse serve [SERVE_ARGS]` pinned to a CPU; its stdout (the request log) goes to /dev/null. */
  async start(
    configFile: string, port: number, logLevel: string, cpu: string, extraNodeArgs: readonly string[] = [], serveArgs: readonly string[] = [],
  ): Promise<GatehouseProcess> {
    const devNull = openSync('/dev/null', 'w');
    const child = startNode({ cpu, args: [...extraNodeArgs, CLI, 'serve', '--config', configFile, ...serveArgs], stdout: devNull });
    closeSync(devNull);
    this.children.push(child);
    await waitForPort(port);
    return { child, port, logLevel };
  }

  async close(): Promise<void> {
    await Promise.all(this.children.map((c) => c.stop()));
    rmSync(this.dir, { recursive: true, force: true });
  }
}
