import { isIPv6 } from 'node:net';

/**
 * The key a client address is counted under by the failed-attempt limiter:
 * an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`, how a dual-stack socket
 * reports an IPv4 peer) is that IPv4 address, and an IPv6 address is its /64
 * (one subscriber's network: a single host may use any address in it). Anything
 * else (IPv4, or text that is not an address) is its own key.
 */
export function limiterKey(address: string): string {
  if (address.indexOf(':') === -1) return address;
  const lower = address.toLowerCase();
  if (lower.startsWith('::ffff:') && lower.indexOf('.') !== -1) return lower.slice(7);
  if (!isIPv6(lower)) return address;
  const zone = lower.indexOf('%');
  const bare = zone === -1 ? lower : lower.slice(0, zone);
  const gap = bare.indexOf('::');
  const head = (gap === -1 ? bare : bare.slice(0, gap)).split(':');
  let groups: string[];
  if (gap === -1 || head.length >= 4) groups = head;
  else {
    // Only the first four groups matter: those written before `::`, then zeros, then (if the zeros run out) the tail.
    const tail = bare.slice(gap + 2);
    const tailGroups = tail === '' ? [] : tail.split(':').flatMap((g) => (g.includes('.') ? ['0', '0'] : [g]));
    const written = gap === 0 ? [] : head;
    groups = [...written, ...new Array<string>(8 - written.length - tailGroups.length).fill('0'), ...tailGroups];
  }
  let key = '';
  for (let i = 0; i < 4; i++) key += `${i === 0 ? '' : ':'}${(parseInt(groups[i] ?? '0', 16) || 0).toString(16)}`;
  return `${key}::/64`;
}
