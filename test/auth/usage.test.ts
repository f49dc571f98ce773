import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { UsageRecorder } from '../../gateway/auth/usage';
import { EmbeddedStore } from '../../gateway/store/embedded-store';

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-usage-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

t.test('counts add up per minute, listener and class; a batch that failed is written by the next flush', async (t) => {
  const path = join(dir, 'usage.db');
  const store = new EmbeddedStore(path, { busyTimeoutMs: 100 });
  t.teardown(() => store.close());
  const errors: unknown[] = [];
  const recorder = new UsageRecorder(store, (err) => errors.push(err));
  t.teardown(() => recorder.close());

  const minute = Math.floor(Date.now() / 60_000) - 1;
  const at = (m: number, s = 0) => m * 60_000 + s * 1_000;
  recorder.count('tok_a', 'external', 200, 10, 100, at(minute, 1));
  recorder.count('tok_a', 'external', 204, 5, 0, at(minute, 30));
  recorder.count('tok_a', 'external', 403, 0, 0, at(minute, 31));
  recorder.count('tok_a', 'external', 0, 0, 0, at(minute, 32)); // unanswered: not counted
  recorder.count('tok_a', 'nowhere', 200, 0, 0, at(minute, 32));
  recorder.count('tok_a', 'admin', 200, 0, 0, at(minute + 1, 2)); // the next minute starts a new tally

  const locker = new Database(path);
  locker.exec('BEGIN IMMEDIATE'); // the CLI or another gateway holding the write lock
  await recorder.flush();
  locker.exec('ROLLBACK');
  locker.close();
  t.equal(errors.length, 1, 'the failed write is reported');
  t.same(await store.readUsage('tok_a', minute), [], 'nothing written yet');

  recorder.count('tok_a', 'external', 200, 1, 1, at(minute + 1, 3));
  await recorder.flush();
  const rows = await store.readUsage('tok_a', minute);
  t.same(rows.map((r) => [r.listener, r.statusClass, r.requests, r.bytesIn, r.bytesOut]), [
    ['admin', '2xx', 1, 0, 0],
    ['external', '2xx', 3, 16, 101],
    ['external', '4xx', 1, 0, 0],
  ], 'nothing lost, nothing counted twice');
  t.same((await store.readUsage('tok_a', minute + 1)).map((r) => [r.listener, r.requests]), [['admin', 1], ['external', 1]], 'each minute its own');
});
