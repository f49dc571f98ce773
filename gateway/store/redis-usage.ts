import type { Cluster, default as Redis } from 'ioredis';
import { USAGE_RETENTION_MS, type UsageCount } from './types';

const MINUTES_PER_DAY = 1_440;
const RETENTION_S = Math.ceil(USAGE_RETENTION_MS / 1_000);

/**
 * Usage counts in Redis: a HASH per token and day (a per-token key,
 * `redisKeys().token(id, 'usage:<day>')`), fields
 * `<minute>|<listener>|<class>|<r|i|o>` (requests, bytes in, bytes out),
 * expiring after the retention. A batch is one pipelined round trip; on a
 * cluster one per token, since a pipeline may only name keys of one slot.
 */
export class RedisUsage {
  constructor(
    private readonly redis: Redis | Cluster,
    /** The key of one token's counts of one day, from the store's key builder. */
    private readonly dayKey: (tokenId: string, day: number) => string,
    private readonly clustered: boolean,
    private readonly call: <T>(command: Promise<T>) => Promise<T>,
  ) {}

  async add(counts: readonly UsageCount[]): Promise<void> {
    if (counts.length === 0) return;
    if (!this.clustered) return this.addBatch(counts);
    const byToken = new Map<string, UsageCount[]>();
    for (const c of counts) {
      const list = byToken.get(c.tokenId);
      if (list) list.push(c);
      else byToken.set(c.tokenId, [c]);
    }
    await Promise.all([...byToken.values()].map((batch) => this.addBatch(batch)));
  }

  private async addBatch(counts: readonly UsageCount[]): Promise<void> {
    const pipeline = this.redis.pipeline();
    const keys = new Set<string>();
    for (const c of counts) {
      const key = this.dayKey(c.tokenId, Math.floor(c.minute / MINUTES_PER_DAY));
      const field = `${c.minute}|${c.listener}|${c.statusClass}|`;
      pipeline.hincrby(key, `${field}r`, c.requests);
      if (c.bytesIn > 0) pipeline.hincrby(key, `${field}i`, c.bytesIn);
      if (c.bytesOut > 0) pipeline.hincrby(key, `${field}o`, c.bytesOut);
      keys.add(key);
    }
    for (const key of keys) pipeline.expire(key, RETENTION_S);
    await this.exec(pipeline);
  }

  async read(tokenId: string, sinceMinute: number): Promise<UsageCount[]> {
    const today = Math.floor(Date.now() / 60_000 / MINUTES_PER_DAY);
    const pipeline = this.redis.pipeline();
    for (let day = Math.floor(sinceMinute / MINUTES_PER_DAY); day <= today; day++) pipeline.hgetall(this.dayKey(tokenId, day));
    const sums = new Map<string, { listener: string; statusClass: string; r: number; i: number; o: number }>();
    for (const fields of (await this.exec(pipeline)) as Record<string, string>[]) {
      for (const [field, value] of Object.entries(fields)) {
        const [minute, listener, statusClass, counter] = field.split('|');
        if (Number(minute) < sinceMinute || (counter !== 'r' && counter !== 'i' && counter !== 'o')) continue;
        const group = `${listener}|${statusClass}`;
        let sum = sums.get(group);
        if (sum === undefined) sums.set(group, (sum = { listener, statusClass, r: 0, i: 0, o: 0 }));
        sum[counter] += Number(value);
      }
    }
    return [...sums.values()].sort((a, b) => (a.listener + a.statusClass < b.listener + b.statusClass ? -1 : 1)).map((s) => ({
      tokenId, minute: sinceMinute, listener: s.listener, statusClass: s.statusClass, requests: s.r, bytesIn: s.i, bytesOut: s.o,
    }));
  }

  /** The replies in order; the first failed command fails the whole batch. */
  private async exec(pipeline: ReturnType<Cluster['pipeline']>): Promise<unknown[]> {
    const replies = (await this.call(pipeline.exec())) ?? [];
    return replies.map(([err, reply]) => {
      if (err) throw err;
      return reply;
    });
  }
}
