import type { TokenView } from './api.js';
import { copyField } from './clipboard.js';
import { byId, say } from './dom.js';
import { when } from './format.js';
import type { SignedIn } from './session.js';

const dialog = byId('rotate-dialog', HTMLDialogElement);
const form = byId('rotate-form', HTMLFormElement);
const text = byId('rotate-text', HTMLParagraphElement);
const overlap = byId('rotate-overlap', HTMLSelectElement);
const formError = byId('rotate-error', HTMLParagraphElement);
const submit = byId('rotate-submit', HTMLButtonElement);
const cancel = byId('rotate-cancel', HTMLButtonElement);
const pane = byId('rotate-secret-pane', HTMLDivElement);
const until = byId('rotate-until', HTMLSpanElement);
const secret = byId('rotate-secret', HTMLInputElement);
const copyStatus = byId('rotate-copy-status', HTMLParagraphElement);

let session: SignedIn | null = null;
let target: TokenView | null = null;
let onRotated: (token: TokenView) => void = () => undefined;

/** Opens the Rotate dialog for a token; `rotated` runs once it has a new secret (shown in the dialog only). */
export function openRotateDialog(ctx: SignedIn, token: TokenView, rotated: (token: TokenView) => void): void {
  session = ctx;
  target = token;
  onRotated = rotated;
  reset();
  text.textContent = `"${token.name}" gets a new secret; its id, types, Deployments and expiry stay. ` +
    'Rotating again while an old secret still works ends that one at once: at most two secrets work.';
  dialog.showModal();
  overlap.focus();
}

/** Closes the dialog, forgetting the secret it shows. */
export function closeRotateDialog(): void {
  reset();
  if (dialog.open) dialog.close();
}

function reset(): void {
  secret.value = '';
  copyStatus.textContent = '';
  until.textContent = '';
  form.reset();
  say(formError, '');
  form.hidden = false;
  pane.hidden = true;
  submit.disabled = false;
  cancel.disabled = false;
}

async function onSubmit(event: SubmitEvent): Promise<void> {
  event.preventDefault();
  const ctx = session;
  const token = target;
  if (ctx === null || token === null || submit.disabled) return;
  say(formError, '');
  // Busy: the dialog stays open until the answer, so the new secret cannot arrive unseen.
  submit.disabled = true;
  cancel.disabled = true;
  try {
    const rotated = await ctx.api.rotate(token.id, overlap.value);
    if (!dialog.open) return;
    form.hidden = true;
    pane.hidden = false;
    byId('rotate-secret-label', HTMLLabelElement).textContent = `New secret of "${token.name}"`;
    const end = rotated.previous_secret_valid_until;
    until.textContent = end === null ? 'The old secret no longer works.' : `The old secret works until ${when(end).join(' ')}.`;
    secret.value = rotated.secret;
    secret.focus();
    secret.select();
    onRotated(rotated.token);
  } catch (err) {
    submit.disabled = false;
    cancel.disabled = false;
    ctx.fail(err, formError);
  }
}

form.addEventListener('submit', (event) => void onSubmit(event));
cancel.addEventListener('click', closeRotateDialog);
byId('rotate-done', HTMLButtonElement).addEventListener('click', closeRotateDialog);
byId('rotate-copy', HTMLButtonElement).addEventListener('click', () => void copyField(secret, copyStatus, 'secret'));
dialog.addEventListener('cancel', (event) => {
  if (submit.disabled && !form.hidden) return event.preventDefault();
  reset();
});
dialog.addEventListener('close', reset);
