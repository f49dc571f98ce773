import { setFlagsFromString } from 'node:v8';

/**
 * V8 decides per allocation site, from the survival it sees in one young-generation
 * collection, to allocate that site's objects straight into the old generation.
 * A gateway's per-request objects die young, but a collection that runs while
 * requests are in flight, or in a lull while keep-alive connections still hold
 * their last request, can see them survive, and the decision sticks. From then on
 * every request's objects, and all they point to, outlive the scavenges and pile
 * up until a full mark-compact. Measured here (A/B, 8 processes each): in 3 of 8
 * gateways with pretenuring on, trace-gc showed scavenges leaving 100+ MB and a
 * mark-compact every 2 s, and user CPU per proxied request went from about 30 to
 * 40 µs for the rest of the process's life; with it off, in none. The few objects
 * that really are long-lived (config, routes, connections) are copied once or
 * twice instead.
 *
 * bin/gatehouse.js calls this before loading anything else, so every command and
 * every worker runs without it; V8 reads the flag at each collection.
 */
export function noAllocationSitePretenuring(): void {
  setFlagsFromString('--no-allocation-site-pretenuring');
}
