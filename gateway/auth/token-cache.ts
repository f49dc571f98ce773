import { LRUCache } from 'lru-cache';
import type { CacheConfig } from '../config/schema';
import { GatehouseError } from '../errors';
import type { Store, TokenRecord } from '../store/types';

interface Entry {
  /** null: the store said there is no such token (a negative entry). */
  readonly record: TokenRecord | null;
  readonly fetchedAt: number;
  readonly freshUntil: number;
  /** expiresAt parsed once, so the hot path compares numbers. */
  readonly expiresAtMs: number;
  /** The cache's generation when the read started: an entry from before `expireAll` is read again. */
  readonly generation: number;
}

export interface CacheObserver {
  hit(): void;
  miss(): void;
  stale(): void;
  storeError(): void;
}

const NO_OBSERVER: CacheObserver = { hit() {}, miss() {}, stale() {}, storeError() {} };

/** A cached token, or a promise of one on a miss. Rejects/throws store_unavailable when it cannot be told. */
export type Lookup = Entry | Promise<Entry>;

/**
 * The in-process token cache in front of the store, keyed by token hash.
 * Fresh entries answer synchronously (no store round trip, no promise);
 * concurrent misses for one hash share one store read; while the store
 * fails, entries are served until `staleIfError` after they were fetched.
 */
export class TokenCache {
  private lru: LRUCache<string, Entry>;
  /**
   * Negative entries, in a table of their own: a flood of well-formed bogus
   * secrets (each a store read once) fills this one, never evicting a real
   * token from `lru` and sending its traffic to the store.
   */
  private unknown: LRUCache<string, Entry>;
  /** Store reads in flight, with the generation each started in. */
  private readonly inflight = new Map<string, { readonly read: Promise<Entry>; readonly generation: number }>();
  private settings: CacheConfig;
  private generation = 0;

  constructor(private readonly store: Store, settings: CacheConfig, private readonly observer: CacheObserver = NO_OBSERVER) {
    this.settings = settings;
    this.lru = new LRUCache<string, Entry>({ max: settings.maxEntries });
    this.unknown = new LRUCache<string, Entry>({ max: settings.maxEntries });
  }

  lookup(hash: string): Lookup {
    const entry = this.lru.get(hash) ?? this.unknown.get(hash);
    const now = Date.now();
    if (entry !== undefined && entry.freshUntil > now && entry.generation === this.generation) {
      this.observer.hit();
      return entry;
    }
    this.observer.miss();
    const pending = this.inflight.get(hash);
    // A read that started before an expireAll may answer from before the missed changes: not one to join.
    if (pending !== undefined && pending.generation === this.generation) return pending.read;
    // `evict` unregisters the read: a record read before a revocation must not be cached after it.
    const read: Promise<Entry> = this.fetch(hash, entry, this.generation, () => this.inflight.get(hash)?.read === read).finally(() => {
      if (this.inflight.get(hash)?.read === read) this.inflight.delete(hash);
    });
    this.inflight.set(hash, { read, generation: this.generation });
    return read;
  }

  private async fetch(hash: string, previous: Entry | undefined, generation: number, stillCurrent: () => boolean): Promise<Entry> {
    try {
      const record = await this.store.findTokenByHash(hash);
      const now = Date.now();
      const entry: Entry = {
        record,
        fetchedAt: now,
        freshUntil: now + (record ? this.settings.ttl : this.settings.negativeTtl),
        expiresAtMs: record?.expiresAt ? Date.parse(record.expiresAt) : Infinity,
        generation,
      };
      if (stillCurrent()) {
        if (record === null) {
          this.lru.delete(hash);
          this.unknown.set(hash, entry);
        } else {
          this.unknown.delete(hash);
          this.lru.set(hash, entry);
        }
      }
      return entry;
    } catch (err) {
      this.observer.storeError();
      // Not after an evict or clear: the entry is then known to be out of date (revoked, disabled, changed).
      if (previous !== undefined && stillCurrent() && Date.now() - previous.fetchedAt < this.settings.staleIfError) {
        this.observer.stale();
        return previous;
      }
      throw new GatehouseError('store_unavailable', { cause: err, retryAfter: 5 });
    }
  }

  /** Forgets one token (it changed or was revoked somewhere), including a read of it in flight. */
  evict(hash: string): void {
    this.lru.delete(hash);
    this.unknown.delete(hash);
    this.inflight.delete(hash);
  }

  /**
   * Changes may have been missed (the store's subscription moved, e.g. to a
   * new primary, or came up late): every entry is read again before its next
   * use. Unlike `clear`, an entry stays usable under `staleIfError` while the
   * store fails, so a failover does not fail cached tokens. A read in flight
   * is cached as from before the reset (read again before its next use, and
   * usable under `staleIfError`); dropping it would leave a token that was
   * just read with no entry to fall back on if the store then fails.
   */
  expireAll(): void {
    this.generation++;
  }

  /** Forgets everything. */
  clear(): void {
    this.lru.clear();
    this.unknown.clear();
    this.inflight.clear();
  }

  /** Applies new settings from a reloaded config; a size change starts an empty cache. */
  reconfigure(settings: CacheConfig): void {
    if (settings.maxEntries !== this.settings.maxEntries) {
      this.lru = new LRUCache<string, Entry>({ max: settings.maxEntries });
      this.unknown = new LRUCache<string, Entry>({ max: settings.maxEntries });
    }
    this.settings = settings;
  }

  /** Cached tokens, known and unknown. */
  get size(): number {
    return this.lru.size + this.unknown.size;
  }
}

export type { Entry as CacheEntry };

/** The cached token if it may be used at `now`: known, enabled and not expired; else null. */
export function usableToken(entry: Entry, now: number): TokenRecord | null {
  const token = entry.record;
  return token === null || token.disabled || entry.expiresAtMs <= now ? null : token;
}
