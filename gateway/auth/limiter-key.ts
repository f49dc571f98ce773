import { isIPv4, isIPv6 } from 'node:net';

/** The eight 16-bit groups of a valid IPv6 address without its zone; an embedded IPv4 tail is two groups. */
function ipv6Groups(bare: string): number[] {
  const parse = (part: string): number[] => {
    if (part === '') return [];
    return part.split(':').flatMap((g) => {
      if (!g.includes('.')) return [parseInt(g, 16)];
      const [a, b, c, d] = g.split('.').map(Number);
      return [(a << 8) | b, (c << 8) | d];
    });
  };
  const gap = bare.indexOf('::');
  if (gap === -1) return parse(bare);
  const head = parse(bare.slice(0, gap));
  const tail = parse(bare.slice(gap + 2));
  return [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
}

/**
 * The key a client address is counted under by the failed-attempt limiter:
 * an IPv4-mapped IPv6 address (`::ffff:a.b.c.d` however written, how a
 * dual-stack socket or a proxy's X-Forwarded-For may report an IPv4 peer) is
 * that IPv4 address, and an IPv6 address is its /64 (one subscriber's network:
 * a single host may use any address in it). Anything else (IPv4, or text that
 * is not an address) is its own key.
 */
export function limiterKey(address: string): string {
  if (address.indexOf(':') === -1) return address;
  const lower = address.toLowerCase();
  // The usual spelling, as node:net reports a mapped peer: no need to parse groups.
  if (lower.startsWith('::ffff:') && isIPv4(lower.slice(7))) return lower.slice(7);
  if (!isIPv6(lower)) return address;
  const zone = lower.indexOf('%');
  const g = ipv6Groups(zone === -1 ? lower : lower.slice(0, zone));
  if (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff) {
    return `${g[6] >> 8}.${g[6] & 0xff}.${g[7] >> 8}.${g[7] & 0xff}`;
  }
  return `${g[0].toString(16)}:${g[1].toString(16)}:${g[2].toString(16)}:${g[3].toString(16)}::/64`;
}
