import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { DeploymentSpec } from '../config/schema';
import type { Limits } from '../limits/limits';
import { EmbeddedLimitStore } from '../limits/embedded-limits';
import type { LimitStore } from '../limits/limit-store';
import { EmbeddedAudit } from './embedded-audit';
import { EmbeddedUsage } from './embedded-usage';
import {
  applyTokenPatch, StoreUnavailableError,
  type AuditEvent, type Store, type StoreEvent, type TokenPatch, type TokenRecord, type UsageCount,
} from './types';

/** How long a writer waits for another process's write lock before giving up (the default). */
export const BUSY_TIMEOUT_MS = 5_000;

export interface EmbeddedStoreOptions {
  /** Wait for another process's lock this long, then fail with StoreUnavailableError. Default {@link BUSY_TIMEOUT_MS}. */
  readonly busyTimeoutMs?: number;
}
/** How often `watch` looks for commits by other processes (well inside the one-second promise). */
export const POLL_INTERVAL_MS = 100;
/** Change rows are kept this long: any process polling at all has read them by then. */
export const CHANGE_RETENTION_MS = 60 * 60 * 1000;
const PRUNE_EVERY_MS = 5 * 60 * 1000;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS tokens (
  id TEXT PRIMARY KEY,
  hash TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  description TEXT NOT NULL,
  owner TEXT NOT NULL,
  created_at TEXT NOT NULL,
  expires_at TEXT,
  last_used_at TEXT,
  disabled INTEGER NOT NULL,
  user_deployments TEXT,
  developer INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS deployments (name TEXT PRIMARY KEY, spec TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS changes (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  kind TEXT NOT NULL,
  key TEXT NOT NULL,
  hash TEXT,
  at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS changes_at ON changes (at);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS token_previous (id TEXT PRIMARY KEY, hash TEXT NOT NULL UNIQUE, until TEXT NOT NULL);
`;

/** A row of `tokens`; `user_deployments` is a JSON array, NULL when not a user token. */
interface TokenRow {
  id: string; hash: string; name: string; description: string; owner: string;
  created_at: string; expires_at: string | null; last_used_at: string | null;
  disabled: number; user_deployments: string | null; developer: number; limits: string | null;
}
interface ChangeRow { seq: number; kind: string; key: string; hash: string | null }
interface Change { kind: 'token' | 'deployment'; key: string; hash: string | null }

const TOKEN_COLUMNS = 'id, hash, name, description, owner, created_at, expires_at, last_used_at, disabled, user_deployments, developer, limits';

function toRow(r: TokenRecord): TokenRow {
  return {
    id: r.id, hash: r.hash, name: r.name, description: r.description, owner: r.owner,
    created_at: r.createdAt, expires_at: r.expiresAt, last_used_at: r.lastUsedAt,
    disabled: r.disabled ? 1 : 0, user_deployments: r.user ? JSON.stringify(r.user.deployments) : null,
    developer: r.developer ? 1 : 0, limits: r.limits ? JSON.stringify(r.limits) : null,
  };
}

function fromRow(r: TokenRow): TokenRecord {
  return {
    id: r.id, hash: r.hash, name: r.name, description: r.description, owner: r.owner,
    createdAt: r.created_at, expiresAt: r.expires_at, lastUsedAt: r.last_used_at,
    disabled: r.disabled === 1, developer: r.developer === 1,
    user: r.user_deployments === null ? null : { deployments: JSON.parse(r.user_deployments) as string[] },
    ...(r.limits === null ? {} : { limits: JSON.parse(r.limits) as Limits }),
  };
}

/** A file made before tokens had limits gets the column (NULL: no limits of its own). */
function addTokenLimitsColumn(db: Database.Database): void {
  const columns = db.prepare<[], { name: string }>('PRAGMA table_info(tokens)').all();
  if (!columns.some((c) => c.name === 'limits')) db.exec('ALTER TABLE tokens ADD COLUMN limits TEXT');
}

/**
 * SQLite result codes that mean "the store cannot be used right now" (locked
 * past the busy timeout, disk or file trouble) rather than a bad request.
 */
const UNAVAILABLE_CODES = /^SQLITE_(BUSY|LOCKED|IOERR|CANTOPEN|FULL|PROTOCOL|NOTADB|CORRUPT|READONLY)/;

function wrap(err: unknown): unknown {
  const code = err instanceof Database.SqliteError ? err.code : undefined;
  if (code !== undefined && UNAVAILABLE_CODES.test(code)) {
    return new StoreUnavailableError(`embedded store unavailable (${code})`, { cause: err });
  }
  if (code !== undefined && code.startsWith('SQLITE_CONSTRAINT')) {
    return new Error('a token with this id or hash already exists', { cause: err });
  }
  return err;
}

/**
 * The single-host store: one SQLite file in WAL mode, shared by every
 * gateway and CLI process on the host. Each mutation appends to a `changes`
 * log in the same transaction; `watch` tails that log, so a revocation made
 * by any process reaches every other one within a poll interval.
 */
export class EmbeddedStore implements Store {
  readonly driver = 'embedded' as const;
  private readonly db: Database.Database;
  private readonly listeners: Array<(event: StoreEvent) => void> = [];
  private readonly sql;
  /** Highest change seq already delivered (or skipped before `watch`). */
  private lastSeq: number;
  private dataVersion = -1;
  private lastPrune = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly usage: EmbeddedUsage;
  private readonly audit: EmbeddedAudit;

  /** Opens (creating if needed, with its folder) the database file at `path`. */
  constructor(private readonly path: string, options: EmbeddedStoreOptions = {}) {
    const busyTimeout = options.busyTimeoutMs ?? BUSY_TIMEOUT_MS;
    try {
      if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
      this.db = new Database(path, { timeout: busyTimeout });
      // Switching to WAL needs a moment of exclusive access: only ask when the
      // file is not WAL yet, so opening next to running processes never fails.
      if (this.db.pragma('journal_mode', { simple: true }) !== 'wal') this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = NORMAL');
      const tables = this.db.transaction(() => {
        this.db.exec(SCHEMA);
        addTokenLimitsColumn(this.db);
        return { usage: new EmbeddedUsage(this.db), audit: new EmbeddedAudit(this.db) };
      }).immediate();
      this.usage = tables.usage;
      this.audit = tables.audit;
    } catch (err) {
      throw err instanceof Database.SqliteError ? wrap(err)
        : new StoreUnavailableError(`cannot open the embedded store at ${path}`, { cause: err });
    }
    const db = this.db;
    this.sql = {
      byHash: db.prepare<[string], TokenRow>(`SELECT ${TOKEN_COLUMNS} FROM tokens WHERE hash = ?`),
      byId: db.prepare<[string], TokenRow>(`SELECT ${TOKEN_COLUMNS} FROM tokens WHERE id = ?`),
      // A previous secret's hash, during its overlap (ISO times in one format compare as strings).
      byPrevious: db.prepare<[string, string], TokenRow & { until: string }>(`SELECT ${TOKEN_COLUMNS.replace(/(\w+)/g, 't.$1')}, p.until
        FROM token_previous p JOIN tokens t ON t.id = p.id WHERE p.hash = ? AND p.until > ?`),
      previousOf: db.prepare<[string], string>('SELECT hash FROM token_previous WHERE id = ?').pluck(),
      dropPrevious: db.prepare<[string]>('DELETE FROM token_previous WHERE id = ?'),
      keepPrevious: db.prepare<[string, string, string]>('INSERT INTO token_previous (id, hash, until) VALUES (?, ?, ?)'),
      setHash: db.prepare<[string, string]>('UPDATE tokens SET hash = ? WHERE id = ?'),
      allTokens: db.prepare<[], TokenRow>(`SELECT ${TOKEN_COLUMNS} FROM tokens ORDER BY created_at, id`),
      insertToken: db.prepare<[TokenRow]>(`INSERT INTO tokens (${TOKEN_COLUMNS}) VALUES
        (@id, @hash, @name, @description, @owner, @created_at, @expires_at, @last_used_at, @disabled, @user_deployments, @developer, @limits)`),
      updateToken: db.prepare<[TokenRow]>(`UPDATE tokens SET name = @name, description = @description,
        expires_at = @expires_at, disabled = @disabled, user_deployments = @user_deployments, developer = @developer, limits = @limits WHERE id = @id`),
      deleteToken: db.prepare<[string]>('DELETE FROM tokens WHERE id = ?'),
      // Several processes flush last use; keeping the latest makes the order of flushes irrelevant.
      touch: db.prepare<[string, string, string]>(
        'UPDATE tokens SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)'),
      allDeployments: db.prepare<[], { spec: string }>('SELECT spec FROM deployments ORDER BY name'),
      hasDeployment: db.prepare<[string], { name: string }>('SELECT name FROM deployments WHERE name = ?'),
      putDeployment: db.prepare<[string, string]>(
        'INSERT INTO deployments (name, spec) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET spec = excluded.spec'),
      deleteDeployment: db.prepare<[string]>('DELETE FROM deployments WHERE name = ?'),
      changesSince: db.prepare<[number], ChangeRow>('SELECT seq, kind, key, hash FROM changes WHERE seq > ? ORDER BY seq'),
      insertChange: db.prepare<[string, string, string | null, number]>('INSERT INTO changes (kind, key, hash, at) VALUES (?, ?, ?, ?)'),
      prune: db.prepare<[number]>('DELETE FROM changes WHERE at < ?'),
      // sqlite_sequence, not MAX(seq): the log may have been pruned empty.
      lastSeq: db.prepare<[], number>("SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'changes'), 0)").pluck(),
      dataVersion: db.prepare<[], number>('PRAGMA data_version').pluck(),
      claimMeta: db.prepare<[string, string]>('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING'),
      meta: db.prepare<[string], string>('SELECT value FROM meta WHERE key = ?').pluck(),
    };
    this.lastSeq = this.sql.lastSeq.get() ?? 0;
  }

  async findTokenByHash(hash: string): Promise<TokenRecord | null> {
    const row = this.guard(() => this.sql.byHash.get(hash));
    if (row) return fromRow(row);
    const previous = this.guard(() => this.sql.byPrevious.get(hash, new Date().toISOString()));
    if (!previous) return null;
    const record = fromRow(previous);
    const expiresAt = record.expiresAt !== null && record.expiresAt < previous.until ? record.expiresAt : previous.until;
    return { ...record, expiresAt };
  }

  async getToken(id: string): Promise<TokenRecord | null> {
    const row = this.guard(() => this.sql.byId.get(id));
    return row ? fromRow(row) : null;
  }

  async listTokens(): Promise<TokenRecord[]> {
    return this.guard(() => this.sql.allTokens.all()).map(fromRow);
  }

  async createToken(record: TokenRecord): Promise<void> {
    this.write(() => {
      this.sql.insertToken.run(toRow(record));
      return [undefined, [{ kind: 'token', key: record.id, hash: record.hash }]];
    });
  }

  async updateToken(id: string, patch: TokenPatch): Promise<TokenRecord | null> {
    return this.write(() => {
      const row = this.sql.byId.get(id);
      if (!row) return [null, []];
      const next = applyTokenPatch(fromRow(row), patch);
      this.sql.updateToken.run(toRow(next));
      return [next, this.tokenChanges(id, [next.hash])];
    });
  }

  async deleteToken(id: string): Promise<boolean> {
    return this.write(() => {
      const row = this.sql.byId.get(id);
      if (!row) return [false, []];
      const changes = this.tokenChanges(id, [row.hash]);
      this.sql.deleteToken.run(id);
      this.sql.dropPrevious.run(id);
      return [true, changes];
    });
  }

  /** Not announced to watchers: last use decides nothing, and announcing it would empty every cache each flush. */
  async touchTokens(lastUsed: ReadonlyMap<string, string>): Promise<void> {
    if (lastUsed.size === 0) return;
    this.guard(() => this.db.transaction(() => {
      for (const [id, at] of lastUsed) this.sql.touch.run(at, id, at);
    }).immediate());
  }

  async rotateToken(id: string, hash: string, previousUntil: string | null): Promise<TokenRecord | null> {
    return this.write(() => {
      const row = this.sql.byId.get(id);
      if (!row) return [null, []];
      const changes = this.tokenChanges(id, [row.hash, hash]);
      this.sql.dropPrevious.run(id);
      if (previousUntil !== null) this.sql.keepPrevious.run(id, row.hash, previousUntil);
      this.sql.setHash.run(hash, id);
      return [{ ...fromRow(row), hash }, changes];
    });
  }

  async addUsage(counts: readonly UsageCount[]): Promise<void> {
    this.guard(() => this.usage.add(counts));
  }

  async readUsage(tokenId: string, sinceMinute: number): Promise<UsageCount[]> {
    return this.guard(() => this.usage.read(tokenId, sinceMinute));
  }

  async appendAudit(event: AuditEvent, retentionMs: number): Promise<void> {
    this.guard(() => this.audit.append(event, retentionMs));
  }

  async listAudit(limit: number, before: string | null): Promise<AuditEvent[]> {
    return this.guard(() => this.audit.list(limit, before));
  }

  async listDeployments(): Promise<DeploymentSpec[]> {
    return this.guard(() => this.sql.allDeployments.all()).map((r) => JSON.parse(r.spec) as DeploymentSpec);
  }

  async putDeployment(spec: DeploymentSpec): Promise<'created' | 'replaced'> {
    return this.write(() => {
      const existed = this.sql.hasDeployment.get(spec.name) !== undefined;
      this.sql.putDeployment.run(spec.name, JSON.stringify(spec));
      return [existed ? 'replaced' : 'created', [{ kind: 'deployment', key: spec.name, hash: null }]];
    });
  }

  async deleteDeployment(name: string): Promise<boolean> {
    return this.write(() => {
      const deleted = this.sql.deleteDeployment.run(name).changes > 0;
      return [deleted, deleted ? [{ kind: 'deployment', key: name, hash: null }] : []];
    });
  }

  async claimPepperFingerprint(fingerprint: string): Promise<string> {
    return this.guard(() => this.db.transaction(() => {
      this.sql.claimMeta.run('pepper_fingerprint', fingerprint);
      return this.sql.meta.get('pepper_fingerprint') ?? fingerprint;
    }).immediate());
  }

  /** Counters in the same file, so every process on the host shares them. */
  limitStore(holder: string, leaseMs: number): LimitStore {
    return new EmbeddedLimitStore(this.path, holder, leaseMs);
  }

  async ping(): Promise<void> {
    this.guard(() => this.sql.dataVersion.get());
  }

  /** Starts polling on the first call; listeners see changes committed from then on, by any process. */
  watch(listener: (event: StoreEvent) => void): void {
    this.listeners.push(listener);
    if (this.timer !== undefined) return;
    this.guard(() => {
      this.dataVersion = this.sql.dataVersion.get() ?? -1;
      this.lastSeq = this.sql.lastSeq.get() ?? 0;
    });
    this.timer = setInterval(() => this.poll(), POLL_INTERVAL_MS);
    this.timer.unref();
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    this.listeners.length = 0;
    if (this.db.open) this.db.close();
  }

  private guard<T>(fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      throw wrap(err);
    }
  }

  /**
   * Runs a mutation and logs its changes in one IMMEDIATE transaction (taking
   * the write lock up front, so the busy timeout applies instead of a
   * read-to-write upgrade failing at once). Holding the lock, it also reads
   * changes other processes committed since the last poll: delivering those
   * first keeps `lastSeq` gap-free when it jumps past our own rows.
   */
  private write<T>(mutation: () => [T, Change[]]): T {
    const { result, rows } = this.guard(() => this.db.transaction(() => {
      const missed = this.sql.changesSince.all(this.lastSeq);
      const [value, changes] = mutation();
      const now = Date.now();
      const own = changes.map((c): ChangeRow => {
        const seq = Number(this.sql.insertChange.run(c.kind, c.key, c.hash, now).lastInsertRowid);
        return { seq, kind: c.kind, key: c.key, hash: c.hash };
      });
      if (now - this.lastPrune > PRUNE_EVERY_MS) {
        this.sql.prune.run(now - CHANGE_RETENTION_MS);
        this.lastPrune = now;
      }
      return { result: value, rows: [...missed, ...own] };
    }).immediate());
    this.deliver(rows);
    return result;
  }

  /** A change to a token is announced for its previous secret's hash too: caches may hold either. */
  private tokenChanges(id: string, hashes: string[]): Change[] {
    const previous = this.sql.previousOf.get(id);
    if (previous !== undefined) hashes.push(previous);
    return hashes.map((hash) => ({ kind: 'token', key: id, hash }));
  }

  private poll(): void {
    try {
      const version = this.sql.dataVersion.get();
      if (version === this.dataVersion) return;
      const rows = this.sql.changesSince.all(this.lastSeq);
      this.dataVersion = version ?? -1;
      this.deliver(rows);
    } catch {
      // Busy or briefly unreadable: the next tick tries again from the same seq.
    }
  }

  private deliver(rows: readonly ChangeRow[]): void {
    const events: StoreEvent[] = [];
    // Seqs are consecutive; a hole means rows were pruned before we read them.
    if (rows.length > 0 && rows[0]!.seq > this.lastSeq + 1) events.push({ kind: 'reset' });
    for (const row of rows) {
      this.lastSeq = row.seq;
      if (row.kind === 'token') events.push({ kind: 'token', id: row.key, hash: row.hash ?? '' });
      else if (row.kind === 'deployment') events.push({ kind: 'deployment', name: row.key });
    }
    for (const event of events) this.emit(event);
  }

  private emit(event: StoreEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (err) {
        // A listener bug must not undo the store's bookkeeping; surface it outside.
        queueMicrotask(() => { throw err; });
      }
    }
  }
}
