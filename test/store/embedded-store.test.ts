import Database from 'better-sqlite3';
import { fork } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { EmbeddedStore } from '../../gateway/store/embedded-store';
import { openStore } from '../../gateway/store/open-store';
import { StoreUnavailableError, type StoreEvent } from '../../gateway/store/types';
import { EventLog, deploymentSpec, isDeployment, isToken, storeContract, tokenRecord } from './store-contract';

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-embedded-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
const newFile = (): string => join(dir, `store-${++files}.db`);

t.test('contract', async (t) => {
  storeContract(t, async () => {
    const path = newFile();
    return async () => openStore({ driver: 'embedded', path });
  });
});

t.test('creates the folder of the database file, and uses WAL', async (t) => {
  const path = join(dir, 'nested', 'deeper', 'gatehouse.db');
  const store = new EmbeddedStore(path);
  t.teardown(() => store.close());
  t.equal(store.driver, 'embedded');
  t.ok(existsSync(path));
  const raw = new Database(path, { readonly: true });
  t.teardown(() => raw.close());
  t.equal(raw.pragma('journal_mode', { simple: true }), 'wal');
});

t.test('a change made by another OS process is seen within a second', async (t) => {
  const path = newFile();
  const store = new EmbeddedStore(path);
  t.teardown(() => store.close());
  const record = tokenRecord();
  await store.createToken(record);
  const log = new EventLog();
  store.watch(log.listener);

  // Started before the writer: its changes may well arrive before it exits.
  const seenAt = (match: (e: StoreEvent) => boolean): Promise<number> => log.waitFor(match, 10_000).then(() => Date.now());
  const tokenSeen = seenAt(isToken(record.id, record.hash));
  const deploymentSeen = seenAt(isDeployment('from-child'));
  const child = fork(join(__dirname, '..', 'fixtures', 'embedded-writer.ts'), [path, record.id], { stdio: 'inherit' });
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  const exitedAt = Date.now();
  t.equal(code, 0, 'the writer process succeeded');
  // Measured from the writer's exit: its commits are done by then.
  t.ok((await tokenSeen) - exitedAt < 1_000, 'token change seen');
  t.ok((await deploymentSeen) - exitedAt < 1_000, 'deployment change seen');
  t.equal((await store.findTokenByHash(record.hash))?.disabled, true);
});

t.test('a database locked past the busy timeout is StoreUnavailableError, not a hang', async (t) => {
  const path = newFile();
  const store = new EmbeddedStore(path, { busyTimeoutMs: 200 });
  t.teardown(() => store.close());
  const locker = new Database(path);
  t.teardown(() => locker.close());
  locker.exec('BEGIN IMMEDIATE');
  const start = Date.now();
  await t.rejects(store.createToken(tokenRecord()), StoreUnavailableError);
  t.ok(Date.now() - start < 1_000, 'fails within the busy timeout');
  locker.exec('ROLLBACK');
  await t.resolves(store.createToken(tokenRecord()), 'works once the lock is gone');
});

t.test('a path that cannot be opened is StoreUnavailableError', async (t) => {
  const blocker = join(dir, 'a-file');
  writeFileSync(blocker, '');
  t.throws(() => new EmbeddedStore(join(blocker, 'gatehouse.db')), StoreUnavailableError);
  const garbage = join(dir, 'not-sqlite.db');
  writeFileSync(garbage, 'this is not a database file. '.repeat(100));
  t.throws(() => new EmbeddedStore(garbage), StoreUnavailableError, 'not a database');
});

t.test('change rows an hour old are pruned; unread pruned rows become a reset', async (t) => {
  const path = newFile();
  const watcher = new EmbeddedStore(path);
  t.teardown(() => watcher.close());
  const log = new EventLog();
  watcher.watch(log.listener);

  // Another process wrote two changes more than an hour ago, and a third
  // process pruned them before this one read them.
  const raw = new Database(path);
  t.teardown(() => raw.close());
  const old = Date.now() - 2 * 60 * 60 * 1000;
  raw.prepare('INSERT INTO changes (kind, key, hash, at) VALUES (?, ?, ?, ?)').run('deployment', 'ancient', null, old);
  raw.prepare('INSERT INTO changes (kind, key, hash, at) VALUES (?, ?, ?, ?)').run('deployment', 'ancient', null, old);
  const writer = new EmbeddedStore(path);
  t.teardown(() => writer.close());
  const fresh = log.waitFor(isDeployment('fresh'));
  await writer.putDeployment(deploymentSpec('fresh'));
  const rows = raw.prepare('SELECT key FROM changes').pluck().all();
  t.same(rows, ['fresh'], 'the old rows were pruned by the write');
  await fresh;
  t.same(log.events, [{ kind: 'reset' }, { kind: 'deployment', name: 'fresh' }]);
});
