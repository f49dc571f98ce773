import { Api, ApiError } from './api.js';
import { byId, el, say } from './dom.js';
import { clearAudit, showAudit } from './audit-page.js';
import { clearDeployments, showDeployments } from './deployments-page.js';
import { closeRotateDialog } from './rotate-dialog.js';
import { tokenStore, type SignedIn } from './session.js';
import { closeCreateDialog, openCreateDialog } from './token-dialog.js';
import { closeLimitsDialog } from './limits-dialog.js';
import { clearTokens, showTokens } from './tokens-page.js';

const signInView = byId('sign-in-view', HTMLElement);
const signInForm = byId('sign-in-form', HTMLFormElement);
const tokenInput = byId('sign-in-token', HTMLInputElement);
const signInError = byId('sign-in-error', HTMLParagraphElement);
const signInButton = byId('sign-in-submit', HTMLButtonElement);
const nav = byId('nav', HTMLElement);
const identity = byId('identity', HTMLDivElement);
const who = byId('who', HTMLSpanElement);
const main = byId('main', HTMLElement);
const PAGES = {
  tokens: { view: byId('tokens-view', HTMLElement), title: 'API Tokens', show: showTokens },
  deployments: { view: byId('deployments-view', HTMLElement), title: 'Deployments', show: showDeployments },
  audit: { view: byId('audit-view', HTMLElement), title: 'Audit', show: showAudit },
} as const;

let current: SignedIn | null = null;

/** Why a token cannot sign in, in words a person can act on. */
function signInProblem(err: unknown): string {
  if (!(err instanceof ApiError)) return 'Something went wrong while signing in.';
  if (err.status === 401) return 'That token is not valid: it is unknown, expired, disabled, or not copied whole (a token is gth_ and 36 more characters).';
  if (err.status === 403) return 'That token has no developer access. It can call Deployments but not manage the gateway: sign in with a token of type "Developer (API access)".';
  if (err.status === 429) return 'Too many failed attempts from this address. Wait a minute, then try again.';
  return err.message;
}

function showSignIn(message: string): void {
  for (const page of Object.values(PAGES)) page.view.hidden = true;
  nav.hidden = true;
  identity.hidden = true;
  signInView.hidden = false;
  document.title = 'Sign in · Gatehouse';
  say(signInError, message, 'error');
  tokenInput.value = '';
  tokenInput.focus();
}

function signOut(message = ''): void {
  tokenStore.forget();
  current = null;
  closeCreateDialog();
  closeLimitsDialog();
  closeRotateDialog();
  const confirm = byId('confirm-dialog', HTMLDialogElement);
  if (confirm.open) confirm.close();
  clearTokens();
  clearDeployments();
  clearAudit();
  who.replaceChildren();
  showSignIn(message);
}

function fail(err: unknown, status: HTMLElement): void {
  if (current === null) return;
  if (err instanceof ApiError && err.status === 401) return signOut('Your token is no longer valid (deleted, disabled or expired). Sign in again.');
  if (err instanceof ApiError && err.status === 403) return signOut('Your token no longer has developer access. Sign in again.');
  say(status, err instanceof Error ? err.message : String(err), 'error');
}

async function signIn(token: string, restoring: boolean): Promise<void> {
  const api = new Api(token);
  signInButton.disabled = true;
  try {
    const me = await api.whoami();
    tokenStore.save(token);
    const ctx: SignedIn = { api, me, fail, signOut, isCurrent: () => current === ctx };
    current = ctx;
  } catch (err) {
    if (restoring) tokenStore.forget();
    showSignIn(signInProblem(err));
    return;
  } finally {
    signInButton.disabled = false;
  }
  who.replaceChildren('Signed in as ', el('strong', {}, current.me.user), ' in ', el('strong', {}, current.me.organization));
  signInView.hidden = true;
  tokenInput.value = '';
  nav.hidden = false;
  identity.hidden = false;
  await route();
}

function pageName(): keyof typeof PAGES {
  if (location.hash === '#/deployments') return 'deployments';
  return location.hash === '#/audit' ? 'audit' : 'tokens';
}

async function route(): Promise<void> {
  if (current === null) return;
  const name = pageName();
  for (const [key, page] of Object.entries(PAGES)) page.view.hidden = key !== name;
  for (const link of nav.querySelectorAll('a')) {
    if (link.dataset.page === name) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  document.title = `${PAGES[name].title} · Gatehouse`;
  await PAGES[name].show(current);
}

signInForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const token = tokenInput.value.trim();
  if (token === '') return showSignIn('Paste a developer token to sign in.');
  void signIn(token, false);
});
byId('sign-out', HTMLButtonElement).addEventListener('click', () => signOut('You are signed out; the token was forgotten by this tab.'));
byId('create-open', HTMLButtonElement).addEventListener('click', () => {
  const ctx = current;
  if (ctx !== null) void openCreateDialog(ctx, (token) => void showTokens(ctx, `Created "${token.name}".`));
});
window.addEventListener('hashchange', () => {
  void route().then(() => main.focus());
});

const saved = tokenStore.load();
if (saved === null) showSignIn('');
else void signIn(saved, true);
