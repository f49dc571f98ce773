import type { Cluster, default as Redis } from 'ioredis';
import { auditIdFloor } from './audit-id';
import type { AuditEvent } from './types';

/**
 * The audit log in Redis: one sorted set whose members are `<id> <event JSON>`,
 * all of score 0, so they sort by id (by time) and a `before` cursor is a
 * lexicographic range.
 */
export class RedisAudit {
  constructor(
    private readonly redis: Redis | Cluster,
    /** The sorted set's key, from the store's key table. */
    private readonly key: string,
    private readonly call: <T>(command: Promise<T>) => Promise<T>,
  ) {}

  async append(event: AuditEvent, retentionMs: number): Promise<void> {
    const replies = await this.call(this.redis.multi()
      .zadd(this.key, 0, `${event.id} ${JSON.stringify(event)}`)
      .zremrangebylex(this.key, '-', `(${auditIdFloor(Date.now() - retentionMs)}`)
      .exec());
    for (const [err] of replies ?? []) if (err) throw err;
  }

  async list(limit: number, before: string | null): Promise<AuditEvent[]> {
    // A member is its id, a space and more: every member of the cursor's own event sorts above `(<id>`.
    const members = await this.call(this.redis.zrevrangebylex(this.key, before === null ? '+' : `(${before}`, '-', 'LIMIT', 0, limit));
    return members.map((member) => JSON.parse(member.slice(member.indexOf(' ') + 1)) as AuditEvent);
  }
}
