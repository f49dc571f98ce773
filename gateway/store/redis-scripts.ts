import { createHash } from 'node:crypto';
import type { Cluster, default as Redis } from 'ioredis';

/** Runs a Lua script with its keys and arguments on the store's connection, failing as the store's calls do. */
export type RunScript = (script: string, keys: readonly string[], args: readonly (string | number)[]) => Promise<unknown>;

/**
 * EVALSHA, and EVAL when Redis does not have the script (a restart, a failover): the
 * hot path's scripts run once per limited request, and their text is most of the command.
 * `call` wraps each command as the store wraps its own (errors, dead connections).
 */
export function scriptRunner(redis: Redis | Cluster, call: <T>(command: Promise<T>) => Promise<T>): RunScript {
  const shas = new Map<string, string>();
  const evalCached = async (script: string, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> => {
    let sha = shas.get(script);
    if (sha === undefined) shas.set(script, (sha = createHash('sha1').update(script).digest('hex')));
    try {
      return await redis.evalsha(sha, keys.length, ...keys, ...args);
    } catch (err) {
      if (err instanceof Error && err.name === 'ReplyError' && err.message.startsWith('NOSCRIPT')) {
        return redis.eval(script, keys.length, ...keys, ...args);
      }
      throw err;
    }
  };
  return (script, keys, args) => call(evalCached(script, keys, args));
}
