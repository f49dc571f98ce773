/** How times and token fields read in tables. */

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

/** A readable local time for an RFC 3339 string, or the fallback when there is none. */
export function when(iso: string | null, fallback: string): string {
  if (iso === null) return fallback;
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? iso : dateTime.format(ms);
}

/** The Deployments a user token opens, as one line. */
export function deploymentList(deployments: readonly string[] | undefined): string {
  if (!deployments || deployments.length === 0) return '—';
  return deployments.map((d) => (d === '*' ? 'All Deployments' : d)).join(', ');
}

/** An RFC 3339 time `days` from now, for the expiry choice. */
export function daysFromNow(days: number): string {
  return new Date(Date.now() + days * 86_400_000).toISOString();
}
