import { auditIdFloor } from './audit-id';
import type { AuditEvent } from './types';
import type { RunScript } from './redis-scripts';

/** Appends one event (ARGV[1]) and drops those older than the retention (members below ARGV[2]). One script, not MULTI: see RedisUsage. */
const APPEND = `
redis.call('ZADD', KEYS[1], 0, ARGV[1])
redis.call('ZREMRANGEBYLEX', KEYS[1], '-', ARGV[2])
return 1`;

/**
 * The audit log in Redis: one sorted set whose members are `<id> <event JSON>`,
 * all of score 0, so they sort by id (by time) and a `before` cursor is a
 * lexicographic range.
 */
export class RedisAudit {
  constructor(
    /** The sorted set's key, from the store's key table. */
    private readonly key: string,
    private readonly run: RunScript,
    private readonly newest: (key: string, max: string, limit: number) => Promise<string[]>,
  ) {}

  async append(event: AuditEvent, retentionMs: number): Promise<void> {
    await this.run(APPEND, [this.key], [`${event.id} ${JSON.stringify(event)}`, `(${auditIdFloor(Date.now() - retentionMs)}`]);
  }

  async list(limit: number, before: string | null): Promise<AuditEvent[]> {
    // A member is its id, a space and more: every member of the cursor's own event sorts above `(<id>`.
    const members = await this.newest(this.key, before === null ? '+' : `(${before}`, limit);
    return members.map((member) => JSON.parse(member.slice(member.indexOf(' ') + 1)) as AuditEvent);
  }
}
