import { spawn } from 'node:child_process';
import { pinnedCommand } from './processes';

export interface H2loadOptions {
  readonly url: string;
  readonly seconds: number;
  readonly connections: number;
  /** Streams in flight per connection. */
  readonly streams: number;
  /** Request headers (`name: value`; `:authority` overrides the URL's). */
  readonly headers: readonly string[];
  /** A file sent as every request's body (which makes them POSTs). */
  readonly dataFile: string;
  readonly cpu: string;
}

export interface H2loadResult {
  readonly rps: number;
  /** Requests finished (any status). */
  readonly done: number;
  /** Requests that failed, errored or timed out, or whose status was not 2xx. */
  readonly failed: number;
}

/** Runs one h2load measurement (h2c prior knowledge, one thread). */
export function runH2load(options: H2loadOptions): Promise<H2loadResult> {
  const args = ['-t1', `-c${options.connections}`, `-m${options.streams}`, `-D${options.seconds}`, '-d', options.dataFile];
  for (const h of options.headers) args.push('-H', h);
  args.push(options.url);
  const [command, argv] = pinnedCommand(options.cpu, 'h2load', args);
  return new Promise((resolve, reject) => {
    const child = spawn(command, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { out += d.toString(); });
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code !== 0) return reject(new Error(`h2load exited ${code}:\n${out}`));
      try {
        resolve(parseH2load(out));
      } catch (err) {
        reject(err);
      }
    });
  });
}

/** Reads h2load's text report. */
export function parseH2load(out: string): H2loadResult {
  const finished = /finished in [\d.]+m?s, ([\d.]+) req\/s/.exec(out);
  const requests = /requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(out);
  const statuses = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(out);
  if (!finished || !requests || !statuses) throw new Error(`unreadable h2load output:\n${out}`);
  const [done, , failed, errored, timeout] = requests.slice(1).map(Number);
  const notOk = Number(statuses[2]) + Number(statuses[3]) + Number(statuses[4]);
  return { rps: Number(finished[1]), done, failed: failed + errored + timeout + notOk };
}
