/**
 * Every Redis key and channel name the store uses, built in one place.
 *
 * The rule for new keys: pick the family by what an operation touches together.
 * - `table(name)`: the token table and everything changed with it in one Lua
 *   script (the id index, records by hash, Deployments, a second hash during a
 *   rotation, the pepper fingerprint, the audit log). All of it shares one hash
 *   slot, so the scripts stay atomic on a Redis Cluster.
 * - `token(id, name)`: per-token hot keys (rate limits, concurrency, usage
 *   counters). They are spread over the cluster by token id; one operation may
 *   touch several keys of one token, never keys of two tokens or a table key.
 * Never build a key by hand elsewhere: on a cluster the braces decide the slot.
 *
 * Braces (Redis Cluster hash tags) are written only for `store.cluster`. A
 * single server or a Sentinel set keeps the key names stores have always used
 * (`gatehouse:token:ids`), so existing data keeps working; a cluster store is
 * always a fresh store (`{gatehouse:}token:ids`).
 */
export interface RedisKeys {
  /** A key of the token table's slot, e.g. `table('token:ids')`. */
  table(name: string): string;
  /** A per-token key in that token's own slot, e.g. `token(id, 'usage')`. */
  token(id: string, name: string): string;
  /** The pub/sub channel of change events (classic pub/sub reaches every cluster node). */
  readonly channel: string;
}

export function redisKeys(prefix: string, clustered: boolean): RedisKeys {
  if (!clustered) {
    return {
      table: (name) => `${prefix}${name}`,
      token: (id, name) => `${prefix}token:${id}:${name}`,
      channel: `${prefix}events`,
    };
  }
  // An empty or brace-holding prefix would not make a hash tag; the config refuses it with a cluster.
  const tag = `{${prefix}}`;
  return {
    table: (name) => `${tag}${name}`,
    token: (id, name) => `${prefix}token:{${id}}:${name}`,
    channel: `${tag}events`,
  };
}
