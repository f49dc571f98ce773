/**
 * The address failed authentications are counted against. Behind a trusted
 * proxy (the load balancer in front of the edge) the peer is that proxy,
 * shared by every client: one client with a bad token would get all of them
 * 429s. The client is then the nearest X-Forwarded-For hop that is not
 * itself trusted: the entry the last trusted proxy appended, which a client
 * cannot choose. Whatever it says, it only picks a failure counter; it never
 * sways who is let in.
 */
export function clientAddress(
  peer: string,
  forwardedFor: string | string[] | undefined,
  isTrustedProxy: (address: string) => boolean,
): string {
  if (forwardedFor === undefined || !isTrustedProxy(peer)) return peer;
  const hops = (Array.isArray(forwardedFor) ? forwardedFor.join(',') : forwardedFor).split(',');
  let nearest = peer;
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = hops[i].trim();
    if (hop === '') continue;
    nearest = hop;
    if (!isTrustedProxy(hop)) break;
  }
  return nearest;
}
