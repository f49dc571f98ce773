import type Database from 'better-sqlite3';
import { auditIdFloor } from './audit-id';
import type { AuditEvent } from './types';

const SCHEMA = 'CREATE TABLE IF NOT EXISTS audit (id TEXT PRIMARY KEY, event TEXT NOT NULL);';

/** The audit log in the embedded store: ids sort by time, so the id is the only index needed. */
export class EmbeddedAudit {
  private readonly sql;

  /** Creates the table if needed; call inside the store's schema transaction. */
  constructor(private readonly db: Database.Database) {
    db.exec(SCHEMA);
    this.sql = {
      insert: db.prepare<[string, string]>('INSERT INTO audit (id, event) VALUES (?, ?)'),
      prune: db.prepare<[string]>('DELETE FROM audit WHERE id < ?'),
      newest: db.prepare<[number], string>('SELECT event FROM audit ORDER BY id DESC LIMIT ?').pluck(),
      before: db.prepare<[string, number], string>('SELECT event FROM audit WHERE id < ? ORDER BY id DESC LIMIT ?').pluck(),
    };
  }

  append(event: AuditEvent, retentionMs: number): void {
    this.db.transaction(() => {
      this.sql.insert.run(event.id, JSON.stringify(event));
      this.sql.prune.run(auditIdFloor(Date.now() - retentionMs));
    }).immediate();
  }

  list(limit: number, before: string | null): AuditEvent[] {
    const rows = before === null ? this.sql.newest.all(limit) : this.sql.before.all(before, limit);
    return rows.map((json) => JSON.parse(json) as AuditEvent);
  }
}
