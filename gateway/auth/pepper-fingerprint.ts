import { createHmac } from 'node:crypto';
import { ConfigError } from '../config/env';
import type { StoreConfig } from '../config/schema';
import type { Store } from '../store/types';

/** A fixed text keyed with the pepper: tells peppers apart without revealing one. */
const FINGERPRINT_TEXT = 'gatehouse pepper fingerprint v1';

export function pepperFingerprint(pepper: string): string {
  return createHmac('sha256', pepper).update(FINGERPRINT_TEXT).digest('base64url');
}

/** The command that empties the store, for the operator who chooses to start over. */
export function startOverCommand(store: StoreConfig): string {
  if (store.driver === 'embedded') return `rm -f '${store.path}' '${store.path}-wal' '${store.path}-shm'`;
  // A URL with a password stays out of the message (it may end up in a log), and Sentinel or Cluster
  // stores have no one URL (a cluster: run it against each primary): the operator fills it in.
  const url = 'url' in store && new URL(store.url).password === '' ? `'${store.url}'` : '"$REDIS_URL"';
  return `redis-cli -u ${url} --scan --pattern '${store.prefix}*' | xargs -r redis-cli -u ${url} del`;
}

/**
 * Compares the pepper with the fingerprint the store keeps (a store without
 * one takes this one). A mismatch means every stored hash was made with
 * another key: every token would be refused while `token list` shows them
 * active, so the process refuses to start instead. Throws a ConfigError
 * naming `tokens.pepper`; a store that cannot be reached rejects as the store does.
 */
export async function checkPepper(store: Store, config: { readonly store: StoreConfig; readonly tokens: { readonly pepper: string } }): Promise<void> {
  const mine = pepperFingerprint(config.tokens.pepper);
  if ((await store.claimPepperFingerprint(mine)) === mine) return;
  const where = config.store.driver === 'embedded' ? `the embedded store ${config.store.path}` : `the Redis store (prefix "${config.store.prefix}")`;
  throw new ConfigError('tokens.pepper', `does not match the pepper ${where} was first used with, so every token in it would be refused. `
    + 'Set tokens.pepper (GATEHOUSE_PEPPER in the example configs) back to that pepper; '
    + `or start over on an empty store, losing every token and stored Deployment in it: ${startOverCommand(config.store)}`);
}
