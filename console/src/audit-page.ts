import type { AuditEventView } from './api.js';
import { byId, el, say } from './dom.js';
import { when } from './format.js';
import type { SignedIn } from './session.js';

const PAGE_SIZE = 50;
const table = byId('audit-table', HTMLTableElement);
const status = byId('audit-status', HTMLParagraphElement);
const empty = byId('audit-empty', HTMLParagraphElement);
const more = byId('audit-more', HTMLButtonElement);

let cursor: string | null = null;
let session: SignedIn | null = null;

/** Loads the newest audit events; "Show older" pages on with the API's cursor. */
export async function showAudit(ctx: SignedIn): Promise<void> {
  session = ctx;
  cursor = null;
  table.tBodies[0].replaceChildren();
  await load(ctx);
}

/** Forgets the rows (on sign out nothing of the session stays on the page). */
export function clearAudit(): void {
  session = null;
  cursor = null;
  table.tBodies[0].replaceChildren();
  more.hidden = true;
  say(status, '');
}

async function load(ctx: SignedIn): Promise<void> {
  more.disabled = true;
  let page;
  try {
    page = await ctx.api.audit(PAGE_SIZE, cursor);
  } catch (err) {
    more.disabled = false;
    ctx.fail(err, status);
    return;
  }
  if (!ctx.isCurrent() || ctx !== session) return;
  table.tBodies[0].append(...page.events.map(row));
  cursor = page.next;
  empty.hidden = table.tBodies[0].rows.length > 0;
  more.hidden = cursor === null;
  more.disabled = false;
  say(status, '');
}

function muted(value: string | null): HTMLElement | string {
  return value ?? el('span', { class: 'muted' }, '—');
}

function row(event: AuditEventView): HTMLTableRowElement {
  const [date, clock] = when(event.time);
  return el('tr', { 'data-event-id': event.id },
    el('td', { 'data-label': 'Time' }, el('time', { datetime: event.time, title: event.time }, el('span', { class: 'nowrap' }, date), ' ', el('span', { class: 'nowrap muted' }, clock))),
    el('td', { 'data-label': 'Action' }, el('code', {}, event.action)),
    el('td', { 'data-label': 'Target' }, event.target),
    el('td', { 'data-label': 'User' }, event.actor.user),
    el('td', { 'data-label': 'Token' }, muted(event.actor.token_id)),
    el('td', { 'data-label': 'Client address' }, muted(event.client_address)),
    el('td', { 'data-label': 'Request id' }, event.request_id === null ? muted(null) : el('span', { class: 'mono' }, event.request_id)),
  );
}

more.addEventListener('click', () => {
  if (session !== null) void load(session);
});
