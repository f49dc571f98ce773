import { X509Certificate } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { dirname } from 'node:path';
import { ConfigError } from '../config/env';
import type { ListenerKind, TlsConfig } from '../config/schema';
import { readTlsPair, type TlsPair } from '../config/tls-files';
import type { Logger } from '../log';
import type { Listener } from './listener';

/** One TLS listener as the reloader sees it. */
interface Endpoint {
  /** Its key path in the config, e.g. `listeners.external[1].tls`. */
  readonly at: string;
  readonly tls: TlsConfig;
  readonly listener: Listener;
}

/**
 * How long a watched folder must stay quiet before the files are read: a Secret volume
 * update or a renewal writes several entries, and reading between two of them would
 * see a new certificate beside the old key.
 */
const SETTLE_MS = 250;

/**
 * Re-reads the certificate and key of every TLS listener: on `reload()` (SIGHUP) and
 * when a file changes. A Kubernetes Secret volume swaps a `..data` symlink in the
 * folder rather than writing the files, so the folders are watched, not the files.
 * A pair that cannot be read or does not fit is refused, logged with its key path,
 * and the running one kept. New connections get the new pair; open ones keep theirs.
 */
export class CertificateReloader {
  private readonly endpoints: Endpoint[] = [];
  private readonly applied = new Map<Endpoint, TlsPair>();
  private readonly watchers: FSWatcher[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(listeners: readonly { readonly kind: ListenerKind; readonly listener: Listener }[], private readonly log: Logger) {
    const seen: Record<ListenerKind, number> = { external: 0, internal: 0, admin: 0 };
    for (const { kind, listener } of listeners) {
      const index = seen[kind]++;
      if (!listener.config.tls) continue;
      const endpoint = { at: `listeners.${kind}[${index}].tls`, tls: listener.config.tls, listener };
      this.endpoints.push(endpoint);
      // What the listener started with, so a reload that finds the same files changes nothing.
      try {
        this.applied.set(endpoint, readTlsPair(endpoint.tls, endpoint.at));
      } catch {
        // Changed since start; the next reload reads and judges it.
      }
    }
  }

  /** Watches the folders that hold the files, until close(). */
  watch(): void {
    const dirs = new Set(this.endpoints.flatMap((e) => [dirname(e.tls.certFile), dirname(e.tls.keyFile)]));
    for (const dir of dirs) {
      try {
        const watcher = watch(dir, { persistent: false }, () => this.settle());
        watcher.on('error', (err: Error) => this.log.warn({ dir, err: err.message }, 'stopped watching a TLS folder; SIGHUP still reloads its files'));
        this.watchers.push(watcher);
      } catch (err) {
        this.log.warn({ dir, err: (err as Error).message }, 'cannot watch a TLS folder; SIGHUP reloads its files');
      }
    }
  }

  private settle(): void {
    if (this.timer) return void this.timer.refresh();
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.reload();
    }, SETTLE_MS);
    this.timer.unref();
  }

  /** Reads every pair again and applies the ones that changed; returns how many did. */
  reload(): number {
    let changed = 0;
    for (const endpoint of this.endpoints) {
      let pair: TlsPair;
      try {
        pair = readTlsPair(endpoint.tls, endpoint.at);
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        this.log.error({ path: err.path, err: err.message }, 'TLS certificate reload refused; keeping the running certificate');
        continue;
      }
      const running = this.applied.get(endpoint);
      if (running && running.cert.equals(pair.cert) && running.key.equals(pair.key)) continue;
      endpoint.listener.setSecureContext(pair);
      this.applied.set(endpoint, pair);
      changed++;
      const cert = new X509Certificate(pair.cert);
      this.log.info({ listener: endpoint.at, serial: cert.serialNumber, valid_to: cert.validTo }, 'TLS certificate reloaded');
    }
    return changed;
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
    for (const watcher of this.watchers) watcher.close();
  }
}
