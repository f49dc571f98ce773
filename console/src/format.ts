/** How times and token fields read in tables. */

const day = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium' });
const clock = new Intl.DateTimeFormat(undefined, { timeStyle: 'short' });

/** A readable local date and time of day for an RFC 3339 string (a table cell may wrap between them). */
export function when(iso: string): readonly [string, string] {
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? [iso, ''] : [day.format(ms), clock.format(ms)];
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
