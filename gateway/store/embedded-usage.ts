import type Database from 'better-sqlite3';
import { USAGE_RETENTION_MS, type UsageCount } from './types';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS usage (
  token_id TEXT NOT NULL,
  minute INTEGER NOT NULL,
  listener TEXT NOT NULL,
  status_class TEXT NOT NULL,
  requests INTEGER NOT NULL,
  bytes_in INTEGER NOT NULL,
  bytes_out INTEGER NOT NULL,
  PRIMARY KEY (token_id, minute, listener, status_class)
);
CREATE INDEX IF NOT EXISTS usage_minute ON usage (minute);
`;

interface UsageRow { listener: string; status_class: string; requests: number; bytes_in: number; bytes_out: number }

/** Usage counts in the embedded store: one row per token, minute, listener and status class. */
export class EmbeddedUsage {
  private readonly sql;

  /** Creates the table if needed; call inside the store's schema transaction. */
  constructor(private readonly db: Database.Database) {
    db.exec(SCHEMA);
    this.sql = {
      add: db.prepare<[string, number, string, string, number, number, number]>(`INSERT INTO usage
        (token_id, minute, listener, status_class, requests, bytes_in, bytes_out) VALUES (?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (token_id, minute, listener, status_class) DO UPDATE SET requests = requests + excluded.requests,
        bytes_in = bytes_in + excluded.bytes_in, bytes_out = bytes_out + excluded.bytes_out`),
      read: db.prepare<[string, number], UsageRow>(`SELECT listener, status_class, SUM(requests) AS requests,
        SUM(bytes_in) AS bytes_in, SUM(bytes_out) AS bytes_out FROM usage WHERE token_id = ? AND minute >= ?
        GROUP BY listener, status_class ORDER BY listener, status_class`),
      prune: db.prepare<[number]>('DELETE FROM usage WHERE minute < ?'),
    };
  }

  /** One transaction per batch; rows past retention are dropped in the same one. */
  add(counts: readonly UsageCount[]): void {
    if (counts.length === 0) return;
    this.db.transaction(() => {
      for (const c of counts) this.sql.add.run(c.tokenId, c.minute, c.listener, c.statusClass, c.requests, c.bytesIn, c.bytesOut);
      this.sql.prune.run(Math.floor((Date.now() - USAGE_RETENTION_MS) / 60_000));
    }).immediate();
  }

  read(tokenId: string, sinceMinute: number): UsageCount[] {
    return this.sql.read.all(tokenId, sinceMinute).map((r) => ({
      tokenId, minute: sinceMinute, listener: r.listener, statusClass: r.status_class,
      requests: r.requests, bytesIn: r.bytes_in, bytesOut: r.bytes_out,
    }));
  }
}
