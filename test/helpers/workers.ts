import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import type { GatewayProcess } from './gateway';
import { get, type Reply } from './http';

/** The worker number a gateway process logged for a request id (log lines name their worker), if logged yet. */
export function workerOf(gw: GatewayProcess, requestId: string): number | undefined {
  for (const line of gw.output().split('\n')) {
    if (!line.includes(requestId)) continue;
    const parsed = JSON.parse(line) as { request_id?: string; worker?: number };
    if (parsed.request_id === requestId) return parsed.worker;
  }
  return undefined;
}

/** Process ids of a supervisor's children (its workers). */
export function childPids(pid: number): number[] {
  try {
    return execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' }).split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** True while a process with this id exists. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export interface Answered {
  readonly reply: Reply;
  readonly requestId: string;
  /** ms since the epoch when the request was sent. */
  readonly at: number;
}

/** One request on a fresh connection with its own X-Request-Id, so the log says which worker answered it. */
export async function tagged(url: string, headers: Record<string, string>): Promise<Answered> {
  const requestId = randomUUID();
  const at = Date.now();
  const reply = await get(url, { ...headers, 'x-request-id': requestId });
  return { reply, requestId, at };
}

/** Waits until the process has flushed the log lines of these requests (its logger writes in batches). */
export async function logged(gw: GatewayProcess, answers: readonly { readonly requestId: string }[], ms = 5_000): Promise<Map<string, number>> {
  const deadline = Date.now() + ms;
  const workers = new Map<string, number>();
  for (;;) {
    for (const a of answers) {
      if (workers.has(a.requestId)) continue;
      const worker = workerOf(gw, a.requestId);
      if (worker !== undefined) workers.set(a.requestId, worker);
    }
    if (workers.size === answers.length || Date.now() > deadline) return workers;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Sends requests on fresh connections (the kernel and the supervisor pick the
 * worker) until each of workers 1..n answered one with `status`, or `ms` pass.
 * Resolves with the workers that did.
 */
export async function reachEveryWorker(
  gw: GatewayProcess, n: number, url: string, headers: Record<string, string>, status: number, ms = 10_000,
): Promise<Set<number>> {
  const seen = new Set<number>();
  const deadline = Date.now() + ms;
  while (seen.size < n && Date.now() < deadline) {
    const batch = await Promise.all(Array.from({ length: 2 * n }, () => tagged(url, headers)));
    const by = await logged(gw, batch.filter((a) => a.reply.status === status));
    for (const worker of by.values()) seen.add(worker);
  }
  return seen;
}
