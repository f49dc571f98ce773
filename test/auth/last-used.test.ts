import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { LastUsedRecorder } from '../../gateway/auth/last-used';
import { EmbeddedStore } from '../../gateway/store/embedded-store';
import { RedisStore } from '../../gateway/store/redis-store';
import { startRedis } from '../helpers/redis';
import { tokenRecord } from '../store/store-contract';

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-last-used-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

t.test('a batch that could not be written (store locked) is written by the next flush', async (t) => {
  const path = join(dir, 'locked.db');
  const store = new EmbeddedStore(path, { busyTimeoutMs: 100 });
  t.teardown(() => store.close());
  const record = tokenRecord();
  await store.createToken(record);
  const errors: unknown[] = [];
  const recorder = new LastUsedRecorder(store, (err) => errors.push(err));
  t.teardown(() => recorder.close());

  const usedAt = Date.now();
  recorder.mark(record.id, usedAt);
  const locker = new Database(path);
  locker.exec('BEGIN IMMEDIATE'); // the CLI or another gateway holding the write lock
  await recorder.flush();
  locker.exec('ROLLBACK');
  locker.close();
  t.equal(errors.length, 1, 'the failed write is reported');
  t.equal((await store.getToken(record.id))?.lastUsedAt, null);

  await recorder.flush();
  t.equal((await store.getToken(record.id))?.lastUsedAt, new Date(usedAt).toISOString(), 'the use is not lost');
});

t.test('close waits for a flush already in flight before the store is closed', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const config = { driver: 'redis' as const, url: redis.url, prefix: 'gatehouse:' };
  const store = await RedisStore.connect(config);
  const record = tokenRecord();
  await store.createToken(record);
  const recorder = new LastUsedRecorder(store, () => {});

  const usedAt = Date.now();
  recorder.mark(record.id, usedAt);
  const periodic = recorder.flush(); // the minute's timer fired just before SIGTERM
  await recorder.close(); // what Gateway.close does, then it closes the store
  await store.close();
  await periodic;

  const reader = await RedisStore.connect(config);
  t.teardown(() => reader.close());
  t.equal((await reader.getToken(record.id))?.lastUsedAt, new Date(usedAt).toISOString(), 'the last use reached the store');
});
