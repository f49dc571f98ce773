import { ConfigError } from './env';

/** Splits `host:port` (`[v6]:port` for IPv6); anything else is a ConfigError at `path`. */
export function splitAddress(address: string, path: string): { host: string; port: number } {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:]+)):(\d{1,5})$/.exec(address);
  const port = match ? Number(match[3]) : NaN;
  if (!match || port > 65535) throw new ConfigError(path, `must be host:port (got "${address}")`);
  return { host: match[1] ?? match[2], port };
}
