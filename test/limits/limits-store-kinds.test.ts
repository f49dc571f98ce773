import type { ServerResponse } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { hostOf, startGateway } from '../helpers/gateway';
import { get } from '../helpers/http';
import { within } from '../helpers/ops';
import { startRedis, type TestRedis } from '../helpers/redis';
import { startUpstream } from '../helpers/upstream';

/** Every field of every limit hash in Redis. */
async function slotsInRedis(redis: TestRedis): Promise<string[]> {
  const keys = (await redis.command('KEYS', '*limits*')) as string[];
  return (await Promise.all(keys.map(async (k) => (await redis.command('HGETALL', k)) as string[]))).flat();
}

t.test('embedded store: the limits hold for every gateway process on the host', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-limits-host-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const held: ServerResponse[] = [];
  const up = await startUpstream(t, (req, res) => (req.url === '/hold' ? void held.push(res) : void res.end('ok')));
  const store = { driver: 'embedded' as const, path: join(dir, 'gatehouse.db') };
  const deployments = [{ name: 'llm', access: 'protected' as const, upstreams: [up.url] }];
  const a = await startGateway(t, { store, deployments });
  const b = await startGateway(t, { store, deployments });
  const call = (base: string, secret: string, path = '/') => get(base + path, { host: hostOf('llm'), authorization: `Bearer ${secret}` });

  const slot = await a.mint({ user: ['llm'], limits: { concurrent: 1 } });
  const first = call(a.external, slot.secret, '/hold');
  await within(2000, async () => held.length === 1);
  t.equal((await call(b.external, slot.secret)).status, 429, 'the other process finds the one slot taken');
  held.shift()!.end('done');
  t.equal((await first).status, 200);
  t.not(await within(1000, async () => (await call(b.external, slot.secret)).status === 200), null, 'and free once it ended');

  const rate = await a.mint({ user: ['llm'], limits: { requests_per_minute: 6 } });
  t.equal((await call(a.external, rate.secret)).status, 200);
  t.equal((await call(b.external, rate.secret)).status, 429, 'one rate allowance for the host');
});

t.test('Redis down: limited requests fail open, counted and logged', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const held: ServerResponse[] = [];
  const up = await startUpstream(t, (req, res) => (req.url === '/hold' ? void held.push(res) : void res.end('ok')));
  const gw = await startGateway(t, { store: { driver: 'redis', url: redis.url }, deployments: [{ name: 'llm', access: 'protected', upstreams: [up.url] }] });
  const { secret } = await gw.mint({ user: ['llm'], limits: { concurrent: 1 } });
  const call = (path = '/') => get(gw.external + path, { host: hostOf('llm'), authorization: `Bearer ${secret}` });
  t.equal((await call()).status, 200, 'the token is cached');
  // Until its release is written back, the slot still counts for this replica and the next request reuses it
  // with no store call: wait for the write-back, so that both requests below need the store.
  t.not(await within(2000, async () => !(await slotsInRedis(redis)).some((f) => f.startsWith('c:'))), null, 'the released slot was written back');
  // Redis runs without automatic saves; one explicit save lets the restarted server come back with the token.
  await redis.command('SAVE');
  await redis.kill();
  const holding = call('/hold');
  // The first check waits out the command timeout of a dead Redis; on a busy machine that can pass 2 s.
  t.not(await within(8000, async () => held.length === 1), null, 'the first request reached the upstream');
  const open = await call();
  t.equal(open.status, 200, 'over the limit, but the check cannot be made: let through');
  t.equal(open.headers['ratelimit-policy'], '"concurrent";q=1;qu="concurrent-requests"', 'the policy is still announced');
  t.equal(open.headers.ratelimit, undefined, 'no state the store did not give');
  held.shift()!.end('done');
  await holding;
  const metrics = await get(gw.admin + '/metrics');
  const count = /^gatehouse_limit_checks_failed_open_total (\d+)/m.exec(metrics.text);
  t.ok(count !== null && Number(count[1]) >= 2, `counted (${count?.[1]})`);
  t.equal(gw.logs.filter((l) => String(l.msg).startsWith('limit check failed')).length, 1, 'logged once, not per request');
  t.notOk(gw.rawLog().includes(secret), 'the secret is in no log line');

  await redis.restart();
  await within(5000, async () => (await get(gw.admin + '/readyz')).status === 200);
  const holdingAgain = call('/hold');
  t.not(await within(5000, async () => held.length === 1 && (await call()).status === 429), null, 'limited again once Redis is back');
  held.shift()?.end('done');
  await holdingAgain;
});

t.test('a slot held longer than its lease stays taken: the replica renews it', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const held: ServerResponse[] = [];
  const up = await startUpstream(t, (req, res) => (req.url === '/hold' ? void held.push(res) : void res.end('ok')));
  // Renewed every 300 ms; without renewal it would lapse after 900 ms.
  const gw = await startGateway(t, { store: { driver: 'redis', url: redis.url }, deployments: [{ name: 'llm', access: 'protected', upstreams: [up.url] }], limitLeaseMs: 900 });
  const { secret } = await gw.mint({ user: ['llm'], limits: { concurrent: 1 } });
  const call = (path = '/') => get(gw.external + path, { host: hostOf('llm'), authorization: `Bearer ${secret}` });
  const holding = call('/hold');
  await within(2000, async () => held.length === 1);
  await new Promise((r) => setTimeout(r, 2000));
  const [key] = (await redis.command('KEYS', '*limits*')) as string[];
  const fields = (await redis.command('HGETALL', key)) as string[];
  const expires = Number(fields[fields.findIndex((f) => f.startsWith('e:')) + 1]);
  t.ok(expires > Date.now(), 'the lease was renewed past its first 900 ms');
  t.equal((await call()).status, 429, 'and the slot is still taken after 2 s');
  held.shift()!.end('done');
  t.equal((await holding).status, 200);
});
