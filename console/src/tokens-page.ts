import type { TokenView } from './api.js';
import { confirmAction } from './confirm.js';
import { byId, el, say } from './dom.js';
import { deploymentList, when } from './format.js';
import { describeLimits } from './limits.js';
import { openLimitsDialog } from './limits-dialog.js';
import { openRotateDialog } from './rotate-dialog.js';
import type { SignedIn } from './session.js';

const table = byId('tokens-table', HTMLTableElement);
const status = byId('tokens-status', HTMLParagraphElement);
const empty = byId('tokens-empty', HTMLParagraphElement);

/** Loads the token list into the table; `notice` reports the change that led here. */
export async function showTokens(ctx: SignedIn, notice = ''): Promise<void> {
  let tokens: TokenView[];
  try {
    tokens = await ctx.api.tokens();
  } catch (err) {
    ctx.fail(err, status);
    return;
  }
  if (!ctx.isCurrent()) return;
  tokens.sort((a, b) => b.created_at.localeCompare(a.created_at) || a.name.localeCompare(b.name));
  table.tBodies[0].replaceChildren(...tokens.map((token) => row(ctx, token)));
  empty.hidden = tokens.length > 0;
  say(status, notice, 'ok');
  void fillUsage(ctx, tokens);
}

/** Each row's requests in the last 24 hours, filled in as the answers come (the list does not wait for them). */
async function fillUsage(ctx: SignedIn, tokens: TokenView[]): Promise<void> {
  const since = new Date(Date.now() - 86_400_000).toISOString();
  await Promise.all(tokens.map(async (token) => {
    const cell = table.querySelector<HTMLTableCellElement>(`tr[data-token-id="${CSS.escape(token.id)}"] td[data-label="Requests (24 h)"]`);
    if (cell === null) return;
    try {
      const usage = await ctx.api.usage(token.id, since);
      if (ctx.isCurrent()) cell.replaceChildren(usage.requests.toLocaleString('en-US'));
    } catch {
      cell.replaceChildren(el('span', { class: 'muted', title: 'Usage could not be read' }, '?'));
    }
  }));
}

/** Forgets the rows (on sign out nothing of the session stays on the page). */
export function clearTokens(): void {
  table.tBodies[0].replaceChildren();
  say(status, '');
}

function time(iso: string | null, fallback: string): HTMLElement {
  if (iso === null) return el('span', { class: 'muted' }, fallback);
  const [date, clock] = when(iso);
  return el('time', { datetime: iso, title: iso }, el('span', { class: 'nowrap' }, date), ' ', el('span', { class: 'nowrap muted' }, clock));
}

function state(token: TokenView): 'Active' | 'Disabled' | 'Expired' {
  if (token.disabled) return 'Disabled';
  if (token.expires_at !== null && Date.parse(token.expires_at) <= Date.now()) return 'Expired';
  return 'Active';
}

function row(ctx: SignedIn, token: TokenView): HTMLTableRowElement {
  const mine = token.id === ctx.me.token.id;
  const current = state(token);
  const types = [token.user ? 'User' : null, token.developer ? 'Developer' : null].filter((t): t is string => t !== null);
  const toggle = el('button', { type: 'button', class: 'secondary small toggle', 'aria-label': `${token.disabled ? 'Enable' : 'Disable'} token ${token.name}` }, token.disabled ? 'Enable' : 'Disable');
  const remove = el('button', { type: 'button', class: 'danger small', 'aria-label': `Delete token ${token.name}` }, 'Delete');
  // Under the status, as its own edit button: another column or action button would not fit a 1280px window.
  const limits = el('button', { type: 'button', class: 'cell-edit limits', 'aria-label': `Edit limits of token ${token.name}` },
    describeLimits(token.limits) ?? el('span', { class: 'muted' }, 'No limits'));
  // The API refuses to rotate a disabled or expired token (409): enable it, or make a new one.
  const rotate = el('button', { type: 'button', class: 'secondary small', 'aria-label': `Rotate the secret of token ${token.name}`, disabled: current !== 'Active' }, 'Rotate');
  rotate.addEventListener('click', () => openRotateDialog(ctx, token, (rotated) => void showTokens(ctx, `"${rotated.name}" has a new secret.`)));
  toggle.addEventListener('click', () => void setDisabled(ctx, token, toggle));
  limits.addEventListener('click', () => openLimitsDialog(ctx, token, (changed) => void limitsChanged(ctx, changed)));
  remove.addEventListener('click', () => void deleteToken(ctx, token, mine));
  return el('tr', { 'data-token-id': token.id },
    el('th', { scope: 'row', 'data-label': 'Name' }, el('span', { class: 'name' }, token.name), mine ? el('span', { class: 'badge self' }, 'this session') : null),
    el('td', { 'data-label': 'Description' }, token.description || el('span', { class: 'muted' }, '—')),
    el('td', { 'data-label': 'Types' }, ...types.map((t) => el('span', { class: `badge type-${t.toLowerCase()}` }, t))),
    el('td', { 'data-label': 'Deployments' }, deploymentList(token.user?.deployments)),
    el('td', { 'data-label': 'Created' }, time(token.created_at, '—')),
    el('td', { 'data-label': 'Last used' }, time(token.last_used_at, 'Never')),
    el('td', { 'data-label': 'Requests (24 h)', class: 'numeric' }, el('span', { class: 'muted' }, '…')),
    el('td', { 'data-label': 'Expires' }, time(token.expires_at, 'Never')),
    el('td', { 'data-label': 'Status' }, el('span', { class: `state state-${current.toLowerCase()}` }, current), el('br'), limits),
    el('td', { class: 'row-actions' }, toggle, rotate, remove),
  );
}

async function setDisabled(ctx: SignedIn, token: TokenView, button: HTMLButtonElement): Promise<void> {
  const disabled = !token.disabled;
  if (disabled && token.id === ctx.me.token.id) {
    const ok = await confirmAction(`Disable token "${token.name}"?`, 'It is the token you signed in with: you will be signed out.', 'Disable');
    if (!ok) return;
  }
  button.disabled = true;
  try {
    await ctx.api.setDisabled(token.id, disabled);
  } catch (err) {
    button.disabled = false;
    ctx.fail(err, status);
    return;
  }
  if (disabled && token.id === ctx.me.token.id) return ctx.signOut('You disabled the token you signed in with.');
  await showTokens(ctx, disabled ? `"${token.name}" is disabled: the gateway refuses it until it is enabled again.` : `"${token.name}" is enabled again.`);
  table.querySelector<HTMLButtonElement>(`tr[data-token-id="${CSS.escape(token.id)}"] .toggle`)?.focus();
}

async function limitsChanged(ctx: SignedIn, token: TokenView): Promise<void> {
  const now = describeLimits(token.limits);
  await showTokens(ctx, now === null ? `"${token.name}" has no limits of its own now.` : `"${token.name}" is limited to ${now}.`);
  table.querySelector<HTMLButtonElement>(`tr[data-token-id="${CSS.escape(token.id)}"] .limits`)?.focus();
}

async function deleteToken(ctx: SignedIn, token: TokenView, mine: boolean): Promise<void> {
  const warning = mine ? ' It is the token you signed in with: you will be signed out.' : '';
  const ok = await confirmAction(
    `Delete token "${token.name}"?`,
    `Anything using it is refused from now on. This cannot be undone.${warning}`,
    'Delete',
  );
  if (!ok) return;
  try {
    await ctx.api.deleteToken(token.id);
  } catch (err) {
    ctx.fail(err, status);
    return;
  }
  if (mine) return ctx.signOut('You deleted the token you signed in with.');
  await showTokens(ctx, `Deleted "${token.name}".`);
  byId('create-open', HTMLButtonElement).focus();
}
