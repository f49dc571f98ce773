import { randomBytes } from 'node:crypto';
import type { Test } from 'tap';
import type { DeploymentSpec } from '../../gateway/config/schema';
import { auditId } from '../../gateway/store/audit-id';
import type { AuditEvent, Store, StoreEvent, TokenRecord } from '../../gateway/store/types';

/**
 * Makes a fresh, empty backing store (a new SQLite file, a new key prefix)
 * and answers a function opening instances on it: two instances stand for
 * two processes sharing the store.
 */
export type NewBacking = () => Promise<() => Promise<Store>>;

let serial = 0;

/** A valid record with unique id and hash; each one is created a second after the previous one. */
export function tokenRecord(overrides: Partial<TokenRecord> = {}): TokenRecord {
  serial++;
  return {
    id: `tok_${serial}_${randomBytes(4).toString('hex')}`,
    hash: randomBytes(32).toString('base64url'),
    name: `token ${serial}`,
    description: 'for tests',
    owner: 'alice',
    createdAt: new Date(Date.UTC(2025, 0, 1, 0, 0, serial)).toISOString(),
    expiresAt: null,
    lastUsedAt: null,
    disabled: false,
    user: { deployments: ['summarizer'] },
    developer: false,
    ...overrides,
  };
}

export function deploymentSpec(name: string, overrides: Partial<DeploymentSpec> = {}): DeploymentSpec {
  return {
    name, access: 'protected', protocol: 'http', upstreams: ['http://127.0.0.1:3000'],
    hosts: [], forwardAuthorization: false, timeouts: {}, ...overrides,
  };
}

/** Collects a store's events and waits for one that matches. */
export class EventLog {
  readonly events: StoreEvent[] = [];
  private readonly waiters = new Set<() => void>();
  readonly listener = (event: StoreEvent): void => {
    this.events.push(event);
    for (const wake of this.waiters) wake();
  };

  /**
   * Waits for a matching event logged from now on (so start waiting before
   * acting). Resolves with the milliseconds it took; rejects after `timeoutMs`.
   */
  async waitFor(match: (event: StoreEvent) => boolean, timeoutMs = 1_000): Promise<number> {
    const start = Date.now();
    const from = this.events.length;
    const found = (): boolean => this.events.slice(from).some(match);
    if (found()) return 0;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => { this.waiters.delete(wake); reject(new Error(`no matching event in ${timeoutMs} ms; saw ${JSON.stringify(this.events.slice(from))}`)); }, timeoutMs);
      const wake = (): void => { if (found()) { clearTimeout(timer); this.waiters.delete(wake); resolve(); } };
      this.waiters.add(wake);
    });
    return Date.now() - start;
  }
}

export const isToken = (id: string, hash: string) => (e: StoreEvent): boolean => e.kind === 'token' && e.id === id && e.hash === hash;
export const isDeployment = (name: string) => (e: StoreEvent): boolean => e.kind === 'deployment' && e.name === name;

/** The behaviour every driver must share; run by each driver's test file. */
export function storeContract(t: Test, newBacking: NewBacking): void {
  const openOne = async (t: Test): Promise<Store> => {
    const store = await (await newBacking())();
    t.teardown(() => store.close());
    return store;
  };

  t.test('tokens: create, find by hash, get, list', async (t) => {
    const store = await openOne(t);
    const first = tokenRecord({ developer: true, user: null, expiresAt: '2030-01-01T00:00:00.000Z' });
    const second = tokenRecord({ user: { deployments: ['*'] } });
    await store.createToken(second);
    await store.createToken(first);
    t.same(await store.findTokenByHash(first.hash), first);
    t.same(await store.findTokenByHash(second.hash), second);
    t.equal(await store.findTokenByHash('no-such-hash'), null);
    t.same(await store.getToken(second.id), second);
    t.equal(await store.getToken('no-such-id'), null);
    t.same(await store.listTokens(), [first, second], 'oldest first');
  });

  t.test('tokens: a duplicate id or hash is refused', async (t) => {
    const store = await openOne(t);
    const record = tokenRecord();
    await store.createToken(record);
    await t.rejects(store.createToken({ ...tokenRecord(), id: record.id }));
    await t.rejects(store.createToken({ ...tokenRecord(), hash: record.hash }));
    t.same(await store.listTokens(), [record]);
  });

  t.test('tokens: update applies the given fields only', async (t) => {
    const store = await openOne(t);
    const record = tokenRecord({ expiresAt: '2030-01-01T00:00:00.000Z' });
    await store.createToken(record);
    const disabled = await store.updateToken(record.id, { disabled: true, name: 'renamed', description: undefined });
    const expected = { ...record, disabled: true, name: 'renamed' };
    t.same(disabled, expected);
    t.same(await store.findTokenByHash(record.hash), expected, 'the hot path sees the change');
    const widened = await store.updateToken(record.id, { expiresAt: null, user: null, developer: true });
    t.same(widened, { ...expected, expiresAt: null, user: null, developer: true }, 'null is a value');
    t.same(await store.getToken(record.id), widened);
    t.equal(await store.updateToken('no-such-id', { disabled: true }), null);
  });

  t.test('tokens: delete', async (t) => {
    const store = await openOne(t);
    const gone = tokenRecord();
    const kept = tokenRecord();
    await store.createToken(gone);
    await store.createToken(kept);
    t.equal(await store.deleteToken(gone.id), true);
    t.equal(await store.deleteToken(gone.id), false);
    t.equal(await store.findTokenByHash(gone.hash), null);
    t.equal(await store.getToken(gone.id), null);
    t.same(await store.listTokens(), [kept]);
  });

  t.test('touchTokens keeps the latest use, and announces nothing', async (t) => {
    const open = await newBacking();
    const store = await open();
    const other = await open();
    t.teardown(() => Promise.all([store.close(), other.close()]));
    const a = tokenRecord();
    const b = tokenRecord();
    const log = new EventLog();
    other.watch(log.listener);
    const createdB = log.waitFor(isToken(b.id, b.hash));
    await store.createToken(a);
    await store.createToken(b);
    await createdB;
    const from = log.events.length;
    await store.touchTokens(new Map([[a.id, '2025-06-01T10:00:00.000Z'], [b.id, '2025-06-01T11:00:00.000Z'], ['no-such-id', '2025-06-01T12:00:00.000Z']]));
    await store.touchTokens(new Map([[a.id, '2025-06-01T09:00:00.000Z']]));
    await store.touchTokens(new Map());
    t.equal((await store.getToken(a.id))?.lastUsedAt, '2025-06-01T10:00:00.000Z', 'an older flush does not go back in time');
    t.equal((await other.findTokenByHash(b.hash))?.lastUsedAt, '2025-06-01T11:00:00.000Z');
    const announced = log.waitFor(isToken(a.id, a.hash));
    const updated = await store.updateToken(a.id, { disabled: true });
    t.equal(updated?.lastUsedAt, '2025-06-01T10:00:00.000Z', 'an update keeps last use');
    await announced; // changes arrive in order: a touch event would have come first
    t.same(log.events.slice(from), [{ kind: 'token', id: a.id, hash: a.hash }], 'last use alone is not a change');
  });

  t.test('deployments: put creates then replaces; list; delete', async (t) => {
    const store = await openOne(t);
    t.same(await store.listDeployments(), []);
    t.equal(await store.putDeployment(deploymentSpec('zeta')), 'created');
    t.equal(await store.putDeployment(deploymentSpec('alpha', { hosts: ['a.example.com'], timeouts: { response: 600_000 } })), 'created');
    const replaced = deploymentSpec('zeta', { access: 'public', protocol: 'grpc', upstreams: ['http://10.0.0.1:9000', 'https://10.0.0.2'], forwardAuthorization: true });
    t.equal(await store.putDeployment(replaced), 'replaced');
    t.same(await store.listDeployments(), [
      deploymentSpec('alpha', { hosts: ['a.example.com'], timeouts: { response: 600_000 } }),
      replaced,
    ], 'by name');
    t.equal(await store.deleteDeployment('zeta'), true);
    t.equal(await store.deleteDeployment('zeta'), false);
    t.same((await store.listDeployments()).map((d) => d.name), ['alpha']);
  });

  t.test('every change reaches a second instance, and this one, within a second', async (t) => {
    const open = await newBacking();
    const writer = await open();
    const reader = await open();
    t.teardown(() => Promise.all([writer.close(), reader.close()]));
    const theirs = new EventLog();
    const own = new EventLog();
    reader.watch(theirs.listener);
    writer.watch(own.listener);
    const record = tokenRecord();

    const steps: Array<[string, () => Promise<unknown>, (e: StoreEvent) => boolean]> = [
      ['token create', () => writer.createToken(record), isToken(record.id, record.hash)],
      ['token update', () => writer.updateToken(record.id, { disabled: true }), isToken(record.id, record.hash)],
      ['token delete', () => writer.deleteToken(record.id), isToken(record.id, record.hash)],
      ['deployment put', () => writer.putDeployment(deploymentSpec('iris')), isDeployment('iris')],
      ['deployment replace', () => writer.putDeployment(deploymentSpec('iris', { access: 'public' })), isDeployment('iris')],
      ['deployment delete', () => writer.deleteDeployment('iris'), isDeployment('iris')],
    ];
    for (const [what, act, match] of steps) {
      const seen = Promise.all([theirs.waitFor(match), own.waitFor(match)]);
      await act();
      const [elapsed] = await seen;
      t.ok(elapsed < 1_000, `${what}: seen by the other instance in ${elapsed} ms`);
    }
    t.same(await reader.getToken(record.id), null, 'the reader reads the final state');
    t.notOk(theirs.events.some((e) => e.kind === 'reset'), 'no reset while connected');
  });

  t.test('no event for a mutation that changed nothing', async (t) => {
    const open = await newBacking();
    const writer = await open();
    const reader = await open();
    t.teardown(() => Promise.all([writer.close(), reader.close()]));
    const log = new EventLog();
    reader.watch(log.listener);
    t.equal(await writer.deleteDeployment('never-was'), false);
    t.equal(await writer.deleteToken('never-was'), false);
    t.equal(await writer.updateToken('never-was', { disabled: true }), null);
    const marker = log.waitFor(isDeployment('marker'));
    await writer.putDeployment(deploymentSpec('marker'));
    await marker;
    t.same(log.events, [{ kind: 'deployment', name: 'marker' }]);
  });

  t.test('the pepper fingerprint: the first one is kept, later ones read it', async (t) => {
    const open = await newBacking();
    const [one, two] = [await open(), await open()];
    t.teardown(async () => { await one.close(); await two.close(); });
    const claims = await Promise.all([one.claimPepperFingerprint('first'), two.claimPepperFingerprint('second')]);
    t.equal(claims[0], claims[1], 'two processes claiming at once agree on one');
    t.equal(await one.claimPepperFingerprint('third'), claims[0], 'a later claim answers the kept one');
    t.equal(await two.claimPepperFingerprint(claims[0]!), claims[0]);
  });

  t.test('rotation: the new hash finds the token; the old one only until the overlap ends', async (t) => {
    const open = await newBacking();
    const store = await open();
    const other = await open();
    t.teardown(() => Promise.all([store.close(), other.close()]));
    const record = tokenRecord({ expiresAt: '2099-01-01T00:00:00.000Z' });
    await store.createToken(record);
    const log = new EventLog();
    other.watch(log.listener);
    const second = randomBytes(32).toString('base64url');
    const until = new Date(Date.now() + 60_000).toISOString();
    const announced = Promise.all([log.waitFor(isToken(record.id, record.hash)), log.waitFor(isToken(record.id, second))]);
    const rotated = await store.rotateToken(record.id, second, until);
    t.same(rotated, { ...record, hash: second }, 'same id and everything else');
    await announced;
    t.same(await other.findTokenByHash(second), { ...record, hash: second });
    t.same(await other.findTokenByHash(record.hash), { ...record, hash: second, expiresAt: until }, 'the old secret, expiring with the overlap');
    t.same(await other.getToken(record.id), { ...record, hash: second });
    t.same(await other.listTokens(), [{ ...record, hash: second }]);

    const disabled = log.waitFor(isToken(record.id, record.hash));
    await store.updateToken(record.id, { disabled: true });
    await disabled;
    t.equal((await other.findTokenByHash(record.hash))?.disabled, true, 'a change during the overlap is announced for the old hash too');
    await store.updateToken(record.id, { disabled: false });

    // Twice within an overlap: only the secret just replaced keeps working.
    const third = randomBytes(32).toString('base64url');
    const firstDropped = log.waitFor(isToken(record.id, record.hash));
    await store.rotateToken(record.id, third, until);
    await firstDropped;
    t.equal(await other.findTokenByHash(record.hash), null, 'the first secret stops at the second rotation');
    t.equal((await other.findTokenByHash(second))?.expiresAt, until, 'the second one has the overlap');
    t.equal((await other.findTokenByHash(third))?.hash, third);

    const fourth = randomBytes(32).toString('base64url');
    await store.rotateToken(record.id, fourth, null);
    t.equal(await other.findTokenByHash(third), null, 'no overlap: the replaced secret stops at once');
    t.equal(await other.findTokenByHash(second), null);
    t.equal(await store.rotateToken('no-such-id', randomBytes(32).toString('base64url'), null), null);

    const fifth = randomBytes(32).toString('base64url');
    await store.rotateToken(record.id, fifth, new Date(Date.now() + 300).toISOString());
    t.equal((await other.findTokenByHash(fourth))?.id, record.id);
    await new Promise((resolve) => setTimeout(resolve, 400));
    t.equal(await other.findTokenByHash(fourth), null, 'refused once the overlap is over');
    const deleted = log.waitFor(isToken(record.id, fourth));
    await store.rotateToken(record.id, randomBytes(32).toString('base64url'), until);
    await store.deleteToken(record.id);
    await deleted;
    t.equal(await other.findTokenByHash(fifth), null, 'deleting a token ends its overlap');
  });

  t.test('rotation keeps an expiry earlier than the overlap', async (t) => {
    const store = await openOne(t);
    const expiresAt = new Date(Date.now() + 30_000).toISOString();
    const record = tokenRecord({ expiresAt });
    await store.createToken(record);
    await store.rotateToken(record.id, randomBytes(32).toString('base64url'), new Date(Date.now() + 3_600_000).toISOString());
    t.equal((await store.findTokenByHash(record.hash))?.expiresAt, expiresAt);
  });

  t.test('usage: batches add up per listener and status class, from a minute on', async (t) => {
    const open = await newBacking();
    const store = await open();
    const other = await open();
    t.teardown(() => Promise.all([store.close(), other.close()]));
    const now = Math.floor(Date.now() / 60_000);
    const count = (minute: number, listener: string, statusClass: string, requests: number, bytesIn = 0, bytesOut = 0) =>
      ({ tokenId: 'tok_a', minute, listener, statusClass, requests, bytesIn, bytesOut });
    await store.addUsage([count(now - 2_000, 'external', '2xx', 7, 1, 1), count(now - 5, 'external', '2xx', 2, 10, 100)]);
    await other.addUsage([count(now, 'external', '2xx', 3, 5, 50), count(now, 'admin', '4xx', 1), { ...count(now, 'external', '2xx', 9), tokenId: 'tok_b' }]);
    await store.addUsage([]);
    t.same(await store.readUsage('tok_a', now - 10), [
      count(now - 10, 'admin', '4xx', 1),
      count(now - 10, 'external', '2xx', 5, 15, 150),
    ]);
    t.same(await other.readUsage('tok_a', now - 3_000), [
      count(now - 3_000, 'admin', '4xx', 1),
      count(now - 3_000, 'external', '2xx', 12, 16, 151),
    ], 'across days');
    t.same(await store.readUsage('tok_none', now - 10), []);
  });

  t.test('audit: newest first, a cursor pages, retention drops old events', async (t) => {
    const open = await newBacking();
    const store = await open();
    const other = await open();
    t.teardown(() => Promise.all([store.close(), other.close()]));
    const event = (at: number, target: string): AuditEvent => ({
      id: auditId(at), time: new Date(at).toISOString(), action: 'token.update', target,
      actor: { token_id: 'tok_dev', user: 'alice' }, request_id: 'req-1', client_address: '127.0.0.1',
    });
    const now = Date.now();
    const old = event(now - 10 * 86_400_000, 'old');
    await store.appendAudit(old, 30 * 86_400_000);
    const recent = [1, 2, 3, 4, 5].map((i) => event(now - 5_000 + i, `t${i}`));
    for (const [i, e] of recent.entries()) await (i % 2 ? store : other).appendAudit(e, 30 * 86_400_000);
    const page1 = await other.listAudit(2, null);
    t.same(page1.map((e) => e.target), ['t5', 't4']);
    t.same(page1[0], recent[4], 'the event as appended');
    const page2 = await store.listAudit(10, page1[1].id);
    t.same(page2.map((e) => e.target), ['t3', 't2', 't1', 'old']);
    t.same(await store.listAudit(10, old.id), []);
    await store.appendAudit(event(now, 'latest'), 86_400_000);
    t.same((await other.listAudit(100, null)).map((e) => e.target), ['latest', 't5', 't4', 't3', 't2', 't1'], 'past retention: gone');
  });

  t.test('ping answers', async (t) => {
    const store = await openOne(t);
    await t.resolves(store.ping());
  });
}
