import type { StoreConfig } from '../config/schema';
import { EmbeddedStore } from './embedded-store';
import { RedisStore, type RedisStoreOptions } from './redis-store';
import type { Store } from './types';

/**
 * Opens the store the config names. The embedded store opens synchronously
 * and throws `StoreUnavailableError` when its file cannot be opened; the
 * Redis store waits briefly for Redis but never fails because Redis is down
 * (see {@link RedisStore.connect}): its calls reject until Redis answers.
 */
export async function openStore(config: StoreConfig, redisOptions: RedisStoreOptions = {}): Promise<Store> {
  switch (config.driver) {
    case 'embedded':
      return new EmbeddedStore(config.path);
    case 'redis':
      return RedisStore.connect(config, redisOptions);
  }
}
