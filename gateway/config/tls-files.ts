import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { ConfigError } from './env';
import type { GatehouseConfig, ListenerKind } from './schema';

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

/**
 * Reads every listener's certificate and key and checks that they fit
 * together, so `serve` refuses a bad pair naming its key path before any
 * port is bound. Not part of loadConfig: the examples name files a checkout
 * does not hold.
 */
export function checkTlsFiles(config: GatehouseConfig): void {
  for (const kind of ['external', 'internal', 'admin'] as const satisfies readonly ListenerKind[]) {
    config.listeners[kind].forEach((listener, i) => {
      if (!listener.tls) return;
      const at = `listeners.${kind}[${i}].tls`;
      const { certFile, keyFile } = listener.tls;
      const cert = read(certFile, `${at}.cert`);
      const key = read(keyFile, `${at}.key`);
      const badCert = fits({ cert });
      if (badCert) throw new ConfigError(`${at}.cert`, `${certFile} is not a PEM certificate (${badCert})`);
      const badKey = fits({ key });
      if (badKey) throw new ConfigError(`${at}.key`, `${keyFile} is not a PEM private key (${badKey})`);
      const mismatch = fits({ cert, key });
      if (mismatch) throw new ConfigError(`${at}.key`, `${keyFile} does not match the certificate ${certFile} (${mismatch})`);
    });
  }
}
