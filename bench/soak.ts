/**
 * `npm run soak [-- --minutes N] [--rate R]`: N minutes (default 10) of mixed
 * traffic at R requests a second (default 40) through one gateway process on
 * a Redis store, with faults on a schedule: Redis killed and restarted, the
 * upstream killed and restarted, SIGHUP every 30 s with alternating configs,
 * a token revoked and a Deployment's access type flipped every few seconds,
 * one burst of malformed HTTP/1.1 and HTTP/2 input, and a slow client every
 * few seconds. Prints outcomes by class, the unexpected ones (the target is
 * 0), and the gateway's RSS, descriptors and event-loop delay p99 at the start
 * (after a warm-up) and at the end. Exit 1 when anything was unexpected.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { freePort, startNode, waitForPort } from './processes';
import { SoakRedis, SoakUpstream, vitals, type Vitals } from './soak-processes';
import { closeClients, malformed, scenarios, slowClient, type FaultKind, type Outcome, type SoakState } from './soak-traffic';

const CLI = join(resolve(__dirname, '..', '..'), 'bin', 'gatehouse.js');
const REQUEST_HEADERS_MS = 2_000;
const WARMUP_MS = 30_000;
/** After a restarted dependency answers again: reconnects, a first failed read, breakers. */
const RECOVERY_GRACE_MS = 5_000;
const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { minutes: { type: 'string', default: '10' }, rate: { type: 'string', default: '40' } } });
  const minutes = Number(values.minutes);
  const rate = Number(values.rate);
  if (!(minutes > 0) || !(rate > 0)) throw new Error('--minutes and --rate must be positive numbers');
  const runMs = minutes * 60_000;
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-soak-'));
  const redis = new SoakRedis(await freePort(), dir);
  const upstream = new SoakUpstream();
  await redis.start();
  await upstream.start();

  const ports = { external: await freePort(), internal: await freePort(), admin: await freePort() };
  const file = join(dir, 'gatehouse.yaml');
  const writeConfig = (variant: 0 | 1): void => writeFileSync(file, stringify({
    organization: 'soak', domain: 'localhost',
    listeners: { external: [{ address: `127.0.0.1:${ports.external}` }], internal: [{ address: `127.0.0.1:${ports.internal}` }], admin: [{ address: `127.0.0.1:${ports.admin}` }] },
    store: { driver: 'redis', url: redis.url }, tokens: { pepper: 'soak-pepper' },
    // One serving process: its RSS, descriptors and loop delay are the figures (with workers they would be the supervisor's).
    workers: 1,
    // The alternating configs differ in settings a reload applies at once.
    cache: { ttl: variant === 0 ? '30s' : '20s', negativeTtl: '5s', staleIfError: '5m' },
    failedAuth: { perMinute: variant === 0 ? 30 : 40 },
    timeouts: { requestHeaders: `${REQUEST_HEADERS_MS}ms`, idle: '30s' },
    log: { level: variant === 0 ? 'info' : 'warn' },
    deployments: [
      { name: 'open', access: 'public', upstreams: [`http://127.0.0.1:${upstream.ports.http}`] },
      { name: 'guarded', access: 'protected', upstreams: [`http://127.0.0.1:${upstream.ports.http}`] },
      { name: 'hidden', access: 'private', upstreams: [`http://127.0.0.1:${upstream.ports.http}`] },
      { name: 'rpc', access: 'public', protocol: 'grpc', upstreams: [`http://127.0.0.1:${upstream.ports.grpc}`] },
    ],
  }));
  writeConfig(0);
  const mint = (...args: string[]): { token: { id: string }; secret: string } =>
    JSON.parse(execFileSync(process.execPath, [CLI, 'token', 'create', '--config', file, '--json', ...args], { encoding: 'utf8' })) as { token: { id: string }; secret: string };
  const valid = mint('--name', 'soak valid', '--user-deployment', 'guarded');
  const developer = mint('--name', 'soak admin', '--developer');
  const devNull = openSync(process.env.SOAK_GATEWAY_LOG ?? '/dev/null', 'w');
  const gateway = startNode({ cpu: '', args: [CLI, 'serve', '--config', file], stdout: devNull });
  closeSync(devNull);
  await waitForPort(ports.admin, 60_000);
  const admin = (method: string, path: string, body?: unknown): Promise<Response> => fetch(`http://127.0.0.1:${ports.admin}${path}`, {
    method, headers: { authorization: `Bearer ${developer.secret}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(5_000),
  });
  const flipUpstream = `http://127.0.0.1:${upstream.ports.http}`;
  if ((await admin('PUT', '/v1/deployments/flip', { access: 'public', upstreams: [flipUpstream] })).status >= 300) throw new Error('could not create the flip Deployment');

  const faults: { kind: FaultKind; from: number; to: number }[] = [];
  const state: SoakState = {
    port: ports.external,
    host: (name) => `${name}.soak.localhost`,
    validToken: valid.secret,
    revocable: undefined,
    flip: { access: 'public', changingSince: 0, changedAt: Date.now() },
    faultDuring: (kinds, from, to) => faults.some((f) => kinds.includes(f.kind) && f.from <= to && f.to + RECOVERY_GRACE_MS >= from),
  };
  const counts = new Map<string, number>();
  const unexpected: Outcome[] = [];
  const record = (o: Outcome): void => {
    const key = `${o.scenario} -> ${o.result}${o.verdict === 'fault' ? ' (during a fault)' : o.verdict === 'unexpected' ? ' (UNEXPECTED)' : ''}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
    if (o.verdict === 'unexpected') unexpected.push(o);
  };

  const started = Date.now();
  const until = started + runMs;
  const pending = new Set<Promise<void>>();
  const track = (p: Promise<Outcome>): void => {
    const done = p.then(record, (err: unknown) => record({ scenario: 'harness', result: String(err), verdict: 'unexpected' })).finally(() => pending.delete(done));
    pending.add(done);
  };
  const names = Object.keys(scenarios);
  let skipped = 0;
  const traffic = (async () => {
    for (let i = 0; Date.now() < until; i++) {
      if (pending.size < 200) track(scenarios[names[i % names.length]](state));
      else skipped++;
      await delay(1_000 / rate);
    }
  })();
  const every = (ms: number, fn: () => Promise<void>): Promise<void> => (async () => {
    for (await delay(ms); Date.now() < until; await delay(ms)) await fn().catch(() => undefined);
  })();
  const at = (fraction: number, fn: () => Promise<void>): Promise<void> => delay(runMs * fraction).then(fn);
  const outage = async (kind: FaultKind, kill: () => Promise<void>, start: () => Promise<void>): Promise<void> => {
    const fault = { kind, from: Date.now(), to: Infinity };
    faults.push(fault);
    await kill();
    await delay(5_000);
    await start();
    fault.to = Date.now();
  };
  let variant: 0 | 1 = 0;
  let revocableId = '';
  const schedule = [
    every(5_000, () => slowClient(state, REQUEST_HEADERS_MS).then(record)),
    every(30_000, async () => {
      variant = variant === 0 ? 1 : 0;
      writeConfig(variant);
      gateway.process.kill('SIGHUP');
    }),
    every(3_000, async () => {
      const current = state.revocable;
      if (current === undefined) {
        const made = await admin('POST', '/v1/tokens', { name: 'soak revocable', user: { deployments: ['guarded'] } });
        if (made.status === 201) {
          const body = (await made.json()) as { token: { id: string }; secret: string };
          state.revocable = { secret: body.secret };
          revocableId = body.token.id;
        }
      } else if (current.revokedAt === undefined) {
        state.revocable = { ...current, revokingSince: current.revokingSince ?? Date.now() };
        if ((await admin('DELETE', `/v1/tokens/${revocableId}`)).status === 204) state.revocable = { ...state.revocable, revokedAt: Date.now() };
      } else if (Date.now() > current.revokedAt + 3_000) state.revocable = undefined;
    }),
    every(4_000, async () => {
      const next = state.flip.access === 'public' ? 'protected' : 'public';
      state.flip.changingSince = Date.now();
      if ((await admin('PATCH', '/v1/deployments/flip', { access: next })).status === 200) {
        state.flip.access = next;
        state.flip.changedAt = Date.now();
      }
    }),
    at(0.3, () => outage('redis', () => redis.kill(), () => redis.start())),
    at(0.45, () => malformed(state, 150).then(record)),
    at(0.55, () => outage('upstream', () => upstream.kill(), () => upstream.start())),
  ];
  await delay(Math.min(WARMUP_MS, runMs / 4));
  const first = await vitals(gateway.pid, ports.admin);
  await traffic;
  await Promise.all(schedule);
  await Promise.all(pending);
  await closeClients();
  // Keep-alive connections (clients' and the gateway's to its upstreams) wind down before the descriptors are counted.
  await delay(6_000);
  const last = await vitals(gateway.pid, ports.admin);
  await gateway.stop();
  await upstream.stop();
  await redis.stop();
  rmSync(dir, { recursive: true, force: true });

  report(minutes, rate, Date.now() - started, counts, unexpected, skipped, first, last);
  return unexpected.length === 0 ? 0 : 1;
}

function report(minutes: number, rate: number, ms: number, counts: Map<string, number>, unexpected: Outcome[], skipped: number, first: Vitals, last: Vitals): void {
  const total = [...counts.values()].reduce((a, b) => a + b, 0);
  const out: string[] = [`soak: ${minutes} min at ${rate}/s (${(ms / 1000).toFixed(0)} s in all), ${total} outcomes, ${skipped} ticks skipped (over 200 in flight)`, '', 'outcomes by class:'];
  for (const [key, n] of [...counts].sort((a, b) => a[0].localeCompare(b[0]))) out.push(`  ${String(n).padStart(7)}  ${key}`);
  out.push('', `unexpected outcomes: ${unexpected.length}`);
  for (const o of unexpected.slice(0, 20)) out.push(`  ${o.scenario} -> ${o.result}`);
  const growth = ((last.rssMb - first.rssMb) / first.rssMb) * 100;
  out.push('', '                      start      end',
    `  RSS (MB)          ${first.rssMb.toFixed(1).padStart(8)} ${last.rssMb.toFixed(1).padStart(8)}   growth ${growth.toFixed(1)} %`,
    `  open descriptors  ${String(first.fds).padStart(8)} ${String(last.fds).padStart(8)}`,
    `  loop delay p99    ${first.loopDelayP99Ms.toFixed(1).padStart(6)}ms ${last.loopDelayP99Ms.toFixed(1).padStart(6)}ms`);
  process.stdout.write(out.join('\n') + '\n');
}

main().then((code) => process.exit(code), (err: unknown) => {
  process.stderr.write(`soak: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exit(1);
});
