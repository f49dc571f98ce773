import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { ConfigError } from './env';
import type { GatehouseConfig, ListenerKind, TlsConfig } from './schema';

function read(file: string, path: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new ConfigError(path, `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}

function fits(options: { cert?: Buffer; key?: Buffer }): string | undefined {
  try {
    createSecureContext(options);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

/** A certificate and its key, read from their files and checked to fit together. */
export interface TlsPair {
  readonly cert: Buffer;
  readonly key: Buffer;
}

/**
 * Reads one listener's certificate and key (`at` is its `listeners.<kind>[i].tls`
 * key path). Throws ConfigError naming `<at>.cert` or `<at>.key` when a file
 * cannot be read, is not PEM, or the key does not match the certificate.
 */
export function readTlsPair(tls: TlsConfig, at: string): TlsPair {
  const { certFile, keyFile } = tls;
  const cert = read(certFile, `${at}.cert`);
  const key = read(keyFile, `${at}.key`);
  const badCert = fits({ cert });
  if (badCert) throw new ConfigError(`${at}.cert`, `${certFile} is not a PEM certificate (${badCert})`);
  const badKey = fits({ key });
  if (badKey) throw new ConfigError(`${at}.key`, `${keyFile} is not a PEM private key (${badKey})`);
  const mismatch = fits({ cert, key });
  if (mismatch) throw new ConfigError(`${at}.key`, `${keyFile} does not match the certificate ${certFile} (${mismatch})`);
  return { cert, key };
}

/**
 * Reads every listener's certificate and key and checks that they fit
 * together, so `serve` refuses a bad pair naming its key path before any
 * port is bound. Not part of loadConfig: the examples name files a checkout
 * does not hold.
 */
export function checkTlsFiles(config: GatehouseConfig): void {
  for (const kind of ['external', 'internal', 'admin'] as const satisfies readonly ListenerKind[]) {
    config.listeners[kind].forEach((listener, i) => {
      if (listener.tls) readTlsPair(listener.tls, `listeners.${kind}[${i}].tls`);
    });
  }
}
