import Database from 'better-sqlite3';
import { StoreUnavailableError } from '../store/types';
import { burstOf, type LimitAnswer, type LimitCall, type LimitStore } from './limit-store';

/** WITHOUT ROWID: a row lives in its primary key's b-tree, so a check writes one page per table, not two. */
const SCHEMA = `
CREATE TABLE IF NOT EXISTS limit_rates (key TEXT PRIMARY KEY, tat REAL NOT NULL, until INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS limit_slots (
  key TEXT NOT NULL, holder TEXT NOT NULL, held INTEGER NOT NULL, expires INTEGER NOT NULL,
  PRIMARY KEY (key, holder)
) WITHOUT ROWID;
`;

/**
 * A limit check may wait this long for another process's write lock before
 * failing open: it runs on the event loop, so it must stay short.
 */
const BUSY_MS = 50;
/** Creating the tables at start may wait for other processes as long as the token store does. */
const SCHEMA_WAIT_MS = 5_000;
const PRUNE_EVERY_MS = 60_000;

/**
 * Limit counters in the embedded store's SQLite file: every process on the
 * host counts against the same rows. The same GCRA and leased slots as on
 * Redis, in one IMMEDIATE transaction on a connection of its own (so its short
 * busy timeout does not shorten the token store's).
 */
export class EmbeddedLimitStore implements LimitStore {
  private readonly db: Database.Database;
  private readonly sql;
  private lastPrune = 0;

  constructor(path: string, private readonly holder: string, private readonly leaseMs: number) {
    try {
      // Processes starting together may wait for each other here; checks afterwards may not.
      this.db = new Database(path, { timeout: SCHEMA_WAIT_MS });
      this.db.pragma('synchronous = NORMAL');
      this.db.exec(SCHEMA);
      this.db.pragma(`busy_timeout = ${BUSY_MS}`);
    } catch (err) {
      throw new StoreUnavailableError(`cannot open the embedded store's limit tables at ${path}`, { cause: err });
    }
    const db = this.db;
    this.sql = {
      rate: db.prepare<[string], number>('SELECT tat FROM limit_rates WHERE key = ?').pluck(),
      setRate: db.prepare<[string, number, number]>(
        'INSERT INTO limit_rates (key, tat, until) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET tat = excluded.tat, until = excluded.until'),
      others: db.prepare<[string, string, number], number>(
        'SELECT COALESCE(SUM(held), 0) FROM limit_slots WHERE key = ? AND holder != ? AND expires >= ?').pluck(),
      setSlots: db.prepare<[string, string, number, number]>(
        'INSERT INTO limit_slots (key, holder, held, expires) VALUES (?, ?, ?, ?) ON CONFLICT (key, holder) DO UPDATE SET held = excluded.held, expires = excluded.expires'),
      dropSlots: db.prepare<[string, string]>('DELETE FROM limit_slots WHERE key = ? AND holder = ?'),
      pruneSlots: db.prepare<[number]>('DELETE FROM limit_slots WHERE expires < ?'),
      pruneRates: db.prepare<[number]>('DELETE FROM limit_rates WHERE until < ?'),
    };
  }

  async acquire(call: LimitCall): Promise<LimitAnswer> {
    return this.guard(() => this.db.transaction(() => this.take(call, Date.now())).immediate());
  }

  async sync(tokenId: string, slotScope: string, held: number): Promise<void> {
    this.guard(() => this.db.transaction(() => this.setHeld(keyOf(tokenId, slotScope), held, Date.now())).immediate());
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }

  private take(call: LimitCall, now: number): LimitAnswer {
    let rateOk = true;
    let remaining = 0;
    let wait = 0;
    let tat = now;
    let interval = 0;
    let taken = 0;
    const rateKey = call.rateScope === null ? '' : keyOf(call.tokenId, call.rateScope);
    if (call.rateScope !== null) {
      interval = 60_000 / call.requestsPerMinute;
      const burst = burstOf(call.requestsPerMinute);
      tat = Math.max(this.sql.rate.get(rateKey) ?? now, now);
      const allowAt = tat + interval - burst * interval;
      if (allowAt > now) {
        rateOk = false;
        wait = allowAt - now;
      } else {
        // What the allowance has now, of which up to rateTake are taken.
        remaining = Math.floor((now - allowAt) / interval) + 1;
        taken = Math.min(call.rateTake, remaining);
      }
    }
    let free = 0;
    const slotKey = call.slotScope === null ? '' : keyOf(call.tokenId, call.slotScope);
    if (call.slotScope !== null) free = call.concurrent - (this.sql.others.get(slotKey, this.holder, now) ?? 0) - call.held;
    const slotOk = call.slotScope === null || free >= 1;
    const allowed = rateOk && slotOk;
    // A refusal by either limit takes nothing from the other.
    if (!allowed) taken = 0;
    if (call.rateScope !== null) {
      tat += taken * interval;
      remaining -= taken;
      if (taken > 0) this.sql.setRate.run(rateKey, tat, Math.ceil(tat));
    }
    let slotsTaken = 0;
    if (call.slotScope !== null) {
      if (allowed) slotsTaken = Math.min(call.slotTake, free);
      this.setHeld(slotKey, call.held + slotsTaken, now);
      free = Math.max(free - slotsTaken, 0);
    }
    if (now - this.lastPrune > PRUNE_EVERY_MS) {
      this.lastPrune = now;
      this.sql.pruneSlots.run(now);
      this.sql.pruneRates.run(now);
    }
    return {
      allowed, refusedBy: !rateOk ? 'rate' : !slotOk ? 'concurrency' : null, rateTaken: taken, slotsTaken,
      rateRemaining: remaining, rateResetMs: Math.ceil(tat - now), rateWaitMs: Math.ceil(wait), slotsFree: free,
    };
  }

  private setHeld(key: string, held: number, now: number): void {
    if (held > 0) this.sql.setSlots.run(key, this.holder, held, now + this.leaseMs);
    else this.sql.dropSlots.run(key, this.holder);
  }

  private guard<T>(fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      throw new StoreUnavailableError('embedded store unavailable for limits', { cause: err });
    }
  }
}

function keyOf(tokenId: string, scope: string): string {
  return `${tokenId}\u0000${scope}`;
}
