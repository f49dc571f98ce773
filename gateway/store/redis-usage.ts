import type { RunScript } from './redis-scripts';
import { USAGE_RETENTION_MS, type UsageCount } from './types';

const MINUTES_PER_DAY = 1_440;
const RETENTION_S = Math.ceil(USAGE_RETENTION_MS / 1_000);

/**
 * Adds counts and keeps the touched day keys for the retention.
 * ARGV[1]: the retention in seconds; then (KEYS index, field, increment) triples.
 */
const ADD = `
for i = 2, #ARGV, 3 do redis.call('HINCRBY', KEYS[tonumber(ARGV[i])], ARGV[i + 1], ARGV[i + 2]) end
for i = 1, #KEYS do redis.call('EXPIRE', KEYS[i], ARGV[1]) end
return 1`;

/**
 * Usage counts in Redis: a HASH per token and day (a per-token key,
 * `redisKeys().token(id, 'usage:<day>')`), fields
 * `<minute>|<listener>|<class>|<r|i|o>` (requests, bytes in, bytes out),
 * expiring after the retention. A batch is one script call; on a cluster one
 * per token, since a script may only name keys of one slot.
 *
 * Scripts and single commands, never ioredis pipelines: on a cluster, a
 * pipeline retried after MOVED while a node is down can queue its commands on
 * one node's connection without writing them, and every later reply on that
 * connection then answers the wrong command.
 */
export class RedisUsage {
  constructor(
    /** The key of one token's counts of one day, from the store's key builder. */
    private readonly dayKey: (tokenId: string, day: number) => string,
    private readonly clustered: boolean,
    private readonly run: RunScript,
    private readonly hgetall: (key: string) => Promise<Record<string, string>>,
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
    const keys = new Map<string, number>();
    const args: (string | number)[] = [RETENTION_S];
    for (const c of counts) {
      const key = this.dayKey(c.tokenId, Math.floor(c.minute / MINUTES_PER_DAY));
      let index = keys.get(key);
      if (index === undefined) keys.set(key, (index = keys.size + 1));
      const field = `${c.minute}|${c.listener}|${c.statusClass}|`;
      args.push(index, `${field}r`, c.requests);
      if (c.bytesIn > 0) args.push(index, `${field}i`, c.bytesIn);
      if (c.bytesOut > 0) args.push(index, `${field}o`, c.bytesOut);
    }
    await this.run(ADD, [...keys.keys()], args);
  }

  async read(tokenId: string, sinceMinute: number): Promise<UsageCount[]> {
    const today = Math.floor(Date.now() / 60_000 / MINUTES_PER_DAY);
    const days: Promise<Record<string, string>>[] = [];
    for (let day = Math.floor(sinceMinute / MINUTES_PER_DAY); day <= today; day++) days.push(this.hgetall(this.dayKey(tokenId, day)));
    const sums = new Map<string, { listener: string; statusClass: string; r: number; i: number; o: number }>();
    for (const fields of await Promise.all(days)) {
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
}
