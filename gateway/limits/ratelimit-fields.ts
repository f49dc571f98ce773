/**
 * The `RateLimit-Policy` and `RateLimit` fields of the IETF httpapi draft
 * (draft-ietf-httpapi-ratelimit-headers-11): lists of items named after the
 * policy, `"requests";q=600;w=60` and `"requests";r=9;t=1`, plus
 * `"concurrent";q=4;qu="concurrent-requests"` and `"concurrent";r=3`.
 */
export interface RateLimitFields {
  readonly policy: string;
  readonly state: string;
}

/** Policy fields by requests per minute, then by concurrent: no key to build per request. */
const policies = new Map<number, Map<number, string>>();

/** The policy field for a pair of limits (0: none), made once per pair. */
export function policyField(requestsPerMinute: number, concurrent: number): string {
  let byConcurrent = policies.get(requestsPerMinute);
  if (byConcurrent === undefined) {
    // The pairs in use are few (the limits configured); the bound only guards against a pathological churn.
    if (policies.size > 10_000) policies.clear();
    policies.set(requestsPerMinute, (byConcurrent = new Map()));
  }
  let field = byConcurrent.get(concurrent);
  if (field === undefined) {
    const items: string[] = [];
    if (requestsPerMinute > 0) items.push(`"requests";q=${requestsPerMinute};w=60`);
    if (concurrent > 0) items.push(`"concurrent";q=${concurrent};qu="concurrent-requests"`);
    field = items.join(', ');
    byConcurrent.set(concurrent, field);
  }
  return field;
}

/** The state field: what is left now, and in how many seconds the rate allowance is whole again. */
export function stateField(requestsPerMinute: number, remaining: number, resetMs: number, concurrent: number, free: number): string {
  const rate = requestsPerMinute > 0 ? `"requests";r=${remaining};t=${Math.ceil(resetMs / 1000)}` : '';
  if (concurrent <= 0) return rate;
  const slots = `"concurrent";r=${free}`;
  return rate === '' ? slots : `${rate}, ${slots}`;
}
