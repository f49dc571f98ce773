import { ApiError, type DeploymentView, type NewToken, type TokenView } from './api.js';
import { byId, el, say } from './dom.js';
import { daysFromNow } from './format.js';
import { limitValue, limitsBody } from './limits.js';
import { showLoginCommand } from './login-command.js';
import type { SignedIn } from './session.js';

const dialog = byId('create-dialog', HTMLDialogElement);
const form = byId('create-form', HTMLFormElement);
const secretPane = byId('secret-pane', HTMLDivElement);
const nameInput = byId('token-name', HTMLInputElement);
const description = byId('token-description', HTMLTextAreaElement);
const userType = byId('type-user', HTMLInputElement);
const developerType = byId('type-developer', HTMLInputElement);
const choice = byId('deployment-choice', HTMLFieldSetElement);
const all = byId('deployment-all', HTMLInputElement);
const options = byId('deployment-options', HTMLDivElement);
const expires = byId('token-expires', HTMLSelectElement);
const rate = byId('token-rate', HTMLInputElement);
const concurrent = byId('token-concurrent', HTMLInputElement);
const formError = byId('create-error', HTMLParagraphElement);
const submit = byId('create-submit', HTMLButtonElement);
const cancel = byId('create-cancel', HTMLButtonElement);
const secret = byId('secret-value', HTMLInputElement);
const copyStatus = byId('copy-status', HTMLParagraphElement);

/** Each field's error line and the control that gets focus when it is wrong. */
const FIELDS = {
  name: { error: 'token-name-error', control: () => nameInput },
  description: { error: 'token-description-error', control: () => description },
  type: { error: 'token-type-error', control: () => userType },
  deployments: { error: 'token-deployments-error', control: () => all },
  expires: { error: 'token-expires-error', control: () => expires },
  rate: { error: 'token-rate-error', control: () => rate },
  concurrent: { error: 'token-concurrent-error', control: () => concurrent },
} as const;
type Field = keyof typeof FIELDS;

let session: SignedIn | null = null;
let onCreated: (token: TokenView) => void = () => undefined;

/** Opens the Create dialog; `created` runs after a token was made (the secret stays in the dialog). */
export async function openCreateDialog(ctx: SignedIn, created: (token: TokenView) => void): Promise<void> {
  session = ctx;
  onCreated = created;
  reset();
  options.replaceChildren(el('p', { class: 'hint' }, 'Loading Deployments…'));
  dialog.showModal();
  try {
    renderDeployments(await ctx.api.deployments());
  } catch (err) {
    options.replaceChildren();
    ctx.fail(err, formError);
  }
}

/** Closes the dialog, forgetting any secret it shows (before the dialog goes, not a task later). */
export function closeCreateDialog(): void {
  reset();
  if (dialog.open) dialog.close();
}

function renderDeployments(deployments: DeploymentView[]): void {
  const boxes = [...deployments].sort((a, b) => a.name.localeCompare(b.name)).map((d) => {
    const id = `deployment-option-${d.name}`;
    return el('div', { class: 'choice' },
      el('input', { id, type: 'checkbox', name: 'deployment', value: d.name }),
      el('label', { for: id }, d.name, ' ', el('span', { class: `access access-${d.access}` }, d.access)));
  });
  options.replaceChildren(...(boxes.length ? boxes : [el('p', { class: 'hint' }, 'No Deployments yet.')]));
  syncChoice();
}

function chosenDeployments(): string[] {
  if (all.checked) return ['*'];
  return [...options.querySelectorAll<HTMLInputElement>('input[type=checkbox]:checked')].map((box) => box.value);
}

/** The Deployment boxes are usable only for a user token, and individual ones only without "all". */
function syncChoice(): void {
  choice.disabled = !userType.checked;
  for (const box of options.querySelectorAll<HTMLInputElement>('input[type=checkbox]')) box.disabled = all.checked;
}

function showError(field: Field, message: string): void {
  const line = byId(FIELDS[field].error, HTMLParagraphElement);
  line.textContent = message;
  line.hidden = false;
  FIELDS[field].control().setAttribute('aria-invalid', 'true');
}

function clearErrors(): void {
  for (const field of Object.values(FIELDS)) {
    const line = byId(field.error, HTMLParagraphElement);
    line.textContent = '';
    line.hidden = true;
    field.control().removeAttribute('aria-invalid');
  }
  say(formError, '');
}

function reset(): void {
  secret.value = '';
  showLoginCommand(null);
  copyStatus.textContent = '';
  form.reset();
  clearErrors();
  syncChoice();
  form.hidden = false;
  secretPane.hidden = true;
  setBusy(false);
}

/** Client-side checks: the fields the API would refuse for sure. Returns the first bad field. */
function validate(): Field | null {
  const bad: Field[] = [];
  if (nameInput.value.trim() === '') {
    showError('name', 'Enter a name, e.g. the application that will use the token.');
    bad.push('name');
  }
  if (!userType.checked && !developerType.checked) {
    showError('type', 'Choose at least one type: User, Developer, or both.');
    bad.push('type');
  } else if (userType.checked && chosenDeployments().length === 0) {
    showError('deployments', 'Choose at least one Deployment, or All Deployments.');
    bad.push('deployments');
  }
  for (const field of ['rate', 'concurrent'] as const) {
    const read = limitValue(FIELDS[field].control());
    if ('problem' in read) {
      showError(field, read.problem);
      bad.push(field);
    }
  }
  return bad[0] ?? null;
}

/** The limits the form asks for, or undefined when it asks for none (validated before). */
function chosenLimits() {
  const value = (input: HTMLInputElement): number | null => {
    const read = limitValue(input);
    return 'value' in read ? read.value : null;
  };
  return limitsBody(value(rate), value(concurrent)) ?? undefined;
}

/** Which form field an API error path such as `user.deployments[0]` belongs to. */
function fieldOf(path: string): Field | null {
  if (path === 'name') return 'name';
  if (path === 'description') return 'description';
  if (path === 'user' || path.startsWith('user.') || path.startsWith('user[')) return 'deployments';
  if (path === 'type' || path === 'developer') return 'type';
  if (path === 'expires_at') return 'expires';
  if (path === 'limits.requests_per_minute' || path === 'limits') return 'rate';
  if (path === 'limits.concurrent') return 'concurrent';
  return null;
}

function capitalized(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

async function onSubmit(event: SubmitEvent): Promise<void> {
  event.preventDefault();
  const ctx = session;
  if (ctx === null || submit.disabled) return;
  clearErrors();
  const bad = validate();
  if (bad !== null) return FIELDS[bad].control().focus();
  const body: NewToken = {
    name: nameInput.value.trim(),
    description: description.value,
    ...(userType.checked ? { user: { deployments: chosenDeployments() } } : {}),
    ...(developerType.checked ? { developer: true } : {}),
    ...(expires.value ? { expires_at: daysFromNow(Number(expires.value)) } : {}),
  };
  const limits = chosenLimits();
  setBusy(true);
  try {
    const created = await ctx.api.createToken(limits === undefined ? body : { ...body, limits });
    setBusy(false);
    // Signed out meanwhile: the page keeps nothing of the session, this secret included.
    if (!dialog.open) return;
    showSecret(created.token, created.secret);
    onCreated(created.token);
  } catch (err) {
    setBusy(false);
    if (err instanceof ApiError && err.status === 400 && err.field !== null) {
      const field = fieldOf(err.field);
      if (field !== null) {
        const prefix = `${err.field}: `;
        showError(field, capitalized(err.message.startsWith(prefix) ? err.message.slice(prefix.length) : err.message));
        FIELDS[field].control().focus();
        return;
      }
    }
    ctx.fail(err, formError);
  }
}

/** While a token is being created the dialog stays open, so its secret cannot arrive unseen. */
function setBusy(busy: boolean): void {
  submit.disabled = busy;
  cancel.disabled = busy;
}

function showSecret(token: TokenView, value: string): void {
  form.hidden = true;
  secretPane.hidden = false;
  byId('secret-label', HTMLLabelElement).textContent = `Secret of "${token.name}"`;
  secret.value = value;
  showLoginCommand(token.developer ? value : null);
  secret.focus();
  secret.select();
}

async function copySecret(): Promise<void> {
  try {
    await navigator.clipboard.writeText(secret.value);
    copyStatus.textContent = 'Copied to the clipboard.';
  } catch {
    // The async clipboard needs permission; selecting the text still lets the user copy it by hand.
    secret.focus();
    secret.select();
    copyStatus.textContent = 'Could not copy automatically: the secret is selected, press Ctrl+C (⌘C).';
  }
}

form.addEventListener('submit', (event) => void onSubmit(event));
userType.addEventListener('change', syncChoice);
all.addEventListener('change', syncChoice);
cancel.addEventListener('click', closeCreateDialog);
byId('secret-done', HTMLButtonElement).addEventListener('click', closeCreateDialog);
byId('secret-copy', HTMLButtonElement).addEventListener('click', () => void copySecret());
// Escape: drop the secret at once ('close' comes a task later); not while a token is being created.
dialog.addEventListener('cancel', (event) => {
  if (submit.disabled && !form.hidden) return event.preventDefault();
  reset();
});
dialog.addEventListener('close', () => {
  reset();
  byId('create-open', HTMLButtonElement).focus();
});
