import type { IncomingMessage, ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import type { ListenerConfig } from '../config/schema';
import { GatehouseError } from '../errors';
import { requestIdFrom } from '../http/request-id';
import type { Runtime } from '../runtime';
import { sendError } from './http-io';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

const WILDCARDS = new Set(['0.0.0.0', '::', '']);
const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/;

/** A Host header's name without its port, lower case; IPv6 in brackets, as written in a Host header. */
export function hostName(header: string): string {
  const lower = header.toLowerCase();
  if (lower.startsWith('[')) {
    const end = lower.indexOf(']');
    return end === -1 ? lower : lower.slice(0, end + 1);
  }
  const colon = lower.lastIndexOf(':');
  return colon === -1 ? lower : lower.slice(0, colon);
}

/**
 * Which `Host` names an admin listener answers. A page on another site can
 * point its own name at 127.0.0.1 (DNS rebinding) and read `/metrics` or the
 * console with the browser's help; the name it must send gives it away.
 * Default: the listener's own address (any IP address for a wildcard one,
 * which a rebinding page cannot send), plus `localhost` for a loopback or
 * wildcard one. `allowedHosts` replaces the default.
 */
export function adminHostMatcher(config: ListenerConfig): (host: string | undefined) => boolean {
  if (config.allowedHosts !== undefined) {
    const allowed = new Set(config.allowedHosts);
    return (host) => host === undefined || allowed.has(hostName(host));
  }
  const own = isIP(config.host) === 6 ? `[${config.host.toLowerCase()}]` : config.host.toLowerCase();
  const wildcard = WILDCARDS.has(config.host);
  const local = wildcard || LOOPBACK.test(config.host);
  return (host) => {
    // HTTP/1.0 may leave it out; every browser sends one.
    if (host === undefined) return true;
    const name = hostName(host);
    if (name === own || (local && name === 'localhost')) return true;
    return wildcard && isIP(name.startsWith('[') ? name.slice(1, -1) : name) !== 0;
  };
}

/** The admin listener's handler behind its Host check: 421 for a name it does not answer to. */
export function guardAdminHost(runtime: Runtime, config: ListenerConfig, handler: Handler): Handler {
  const allowed = adminHostMatcher(config);
  return function onAdminRequest(req, res) {
    if (allowed(req.headers.host)) return handler(req, res);
    const requestId = requestIdFrom(req.headers['x-request-id']);
    sendError(res, new GatehouseError('misdirected', { message: 'this admin listener does not answer to that host name' }), requestId, runtime.challenges);
    runtime.log.warn({ request_id: requestId, listener: 'admin', method: req.method, path: req.url, status: 421, reason: 'misdirected' }, 'admin request');
  };
}
