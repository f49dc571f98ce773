import type { RunScript } from '../store/redis-scripts';
import type { LimitAnswer, LimitCall, LimitStore } from './limit-store';

/**
 * Both limits in one script, on the server's clock. The rate counter is a GCRA
 * theoretical arrival time (`tat`, ms); slots are per holder (`c:<holder>`,
 * leased until `e:<holder>`), and a holder whose lease ran out is dropped.
 * KEYS[1] rate hash, KEYS[2] slot hash (the same token: one hash slot).
 * ARGV: requests per minute (0 none), concurrent (0 none), holder, held, lease ms, key ttl ms,
 * rate to take, slots to take.
 */
const ACQUIRE = `
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local rpm, cap, holder, held, lease, ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local rate_take, slot_take = tonumber(ARGV[7]), tonumber(ARGV[8])
local rate_ok, remaining, wait, reset, tat, interval, taken = true, 0, 0, 0, now, 0, 0
if rpm > 0 then
  interval = 60000 / rpm
  local burst = math.ceil(rpm / 60)
  tat = tonumber(redis.call('HGET', KEYS[1], 'tat')) or now
  if tat < now then tat = now end
  local allow_at = tat + interval - burst * interval
  if allow_at > now then
    rate_ok = false
    wait = allow_at - now
  else
    -- What the allowance has now, of which up to rate_take are taken.
    remaining = math.floor((now - allow_at) / interval) + 1
    taken = math.min(rate_take, remaining)
  end
end
local others, free, slot_ok = 0, 0, true
if cap > 0 then
  local fields = redis.call('HGETALL', KEYS[2])
  local counts, leases = {}, {}
  for i = 1, #fields, 2 do
    local kind, who = string.sub(fields[i], 1, 2), string.sub(fields[i], 3)
    if kind == 'c:' then counts[who] = tonumber(fields[i + 1]) elseif kind == 'e:' then leases[who] = tonumber(fields[i + 1]) end
  end
  for who, n in pairs(counts) do
    if who ~= holder then
      if (leases[who] or 0) < now then redis.call('HDEL', KEYS[2], 'c:' .. who, 'e:' .. who) else others = others + n end
    end
  end
  free = cap - others - held
  slot_ok = free >= 1
end
local allowed = rate_ok and slot_ok
-- A refusal by either limit takes nothing from the other.
if not allowed then taken = 0 end
if rpm > 0 then
  tat = tat + taken * interval
  remaining = remaining - taken
  reset = tat - now
  if taken > 0 then
    redis.call('HSET', KEYS[1], 'tat', tostring(tat))
    redis.call('PEXPIRE', KEYS[1], ttl)
  end
end
local slots_taken = 0
if cap > 0 then
  if allowed then slots_taken = math.min(slot_take, free) end
  local mine = held + slots_taken
  if mine > 0 then
    redis.call('HSET', KEYS[2], 'c:' .. holder, mine, 'e:' .. holder, now + lease)
    redis.call('PEXPIRE', KEYS[2], ttl)
  else
    redis.call('HDEL', KEYS[2], 'c:' .. holder, 'e:' .. holder)
  end
  free = math.max(free - slots_taken, 0)
end
local refused = 0
if not rate_ok then refused = 1 elseif not slot_ok then refused = 2 end
return {refused, remaining, math.ceil(reset), math.ceil(wait), free, taken, slots_taken}`;

/** Sets a holder's slots in one scope (absolute) and renews their lease. ARGV: holder, held, lease ms, key ttl ms. */
const SYNC = `
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local held = tonumber(ARGV[2])
if held > 0 then
  redis.call('HSET', KEYS[1], 'c:' .. ARGV[1], held, 'e:' .. ARGV[1], now + tonumber(ARGV[3]))
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[4]))
else
  redis.call('HDEL', KEYS[1], 'c:' .. ARGV[1], 'e:' .. ARGV[1])
end
return held`;

const REFUSED_BY = [null, 'rate', 'concurrency'] as const;

export interface RedisLimitOptions {
  /** The key of one token's counters in one scope (the store's key table names it). */
  readonly key: (tokenId: string, scope: string) => string;
  /** Runs a script on the store's connection, failing as the store's calls do. */
  readonly run: RunScript;
  readonly holder: string;
  readonly leaseMs: number;
}

/** Limit counters in Redis: every replica sharing the store counts against the same numbers. */
export class RedisLimitStore implements LimitStore {
  /** Counters outlive a minute's rate state and a lease, and then vanish without a sweeper. */
  private readonly ttlMs: number;

  constructor(private readonly options: RedisLimitOptions) {
    this.ttlMs = 61_000 + 2 * options.leaseMs;
  }

  async acquire(call: LimitCall): Promise<LimitAnswer> {
    const { key, holder, leaseMs } = this.options;
    const rateKey = key(call.tokenId, call.rateScope ?? call.slotScope ?? '');
    const slotKey = call.slotScope === null ? rateKey : key(call.tokenId, call.slotScope);
    const reply = await this.options.run(ACQUIRE, [rateKey, slotKey], [
      call.rateScope === null ? 0 : call.requestsPerMinute, call.slotScope === null ? 0 : call.concurrent,
      holder, call.held, leaseMs, this.ttlMs, call.rateTake, call.slotTake,
    ]) as number[];
    const refusedBy = REFUSED_BY[Number(reply[0])] ?? null;
    return {
      allowed: refusedBy === null, refusedBy, rateTaken: Number(reply[5]), slotsTaken: Number(reply[6]),
      rateRemaining: Number(reply[1]), rateResetMs: Number(reply[2]), rateWaitMs: Number(reply[3]), slotsFree: Number(reply[4]),
    };
  }

  async sync(tokenId: string, slotScope: string, held: number): Promise<void> {
    await this.options.run(SYNC, [this.options.key(tokenId, slotScope)], [this.options.holder, held, this.options.leaseMs, this.ttlMs]);
  }

  async close(): Promise<void> {}
}
