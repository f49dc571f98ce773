import { ApiError, type TokenView } from './api.js';
import { byId, say } from './dom.js';
import { limitValue, limitsBody } from './limits.js';
import type { SignedIn } from './session.js';

const dialog = byId('limits-dialog', HTMLDialogElement);
const form = byId('limits-form', HTMLFormElement);
const rate = byId('limits-rate', HTMLInputElement);
const concurrent = byId('limits-concurrent', HTMLInputElement);
const formError = byId('limits-error', HTMLParagraphElement);
const save = byId('limits-save', HTMLButtonElement);

const FIELDS = [
  { input: rate, error: 'limits-rate-error', api: 'limits.requests_per_minute' },
  { input: concurrent, error: 'limits-concurrent-error', api: 'limits.concurrent' },
] as const;

let editing: { ctx: SignedIn; token: TokenView; saved: (token: TokenView) => void } | null = null;

/** Opens the Limits dialog for one token; `saved` runs with the token as changed. */
export function openLimitsDialog(ctx: SignedIn, token: TokenView, saved: (token: TokenView) => void): void {
  editing = { ctx, token, saved };
  byId('limits-title', HTMLHeadingElement).textContent = `Limits of "${token.name}"`;
  rate.value = token.limits?.requests_per_minute?.toString() ?? '';
  concurrent.value = token.limits?.concurrent?.toString() ?? '';
  clearErrors();
  save.disabled = false;
  dialog.showModal();
  rate.focus();
}

export function closeLimitsDialog(): void {
  editing = null;
  if (dialog.open) dialog.close();
}

function clearErrors(): void {
  for (const field of FIELDS) {
    const line = byId(field.error, HTMLParagraphElement);
    line.textContent = '';
    line.hidden = true;
    field.input.removeAttribute('aria-invalid');
  }
  say(formError, '');
}

function showError(input: HTMLInputElement, errorId: string, message: string): void {
  const line = byId(errorId, HTMLParagraphElement);
  line.textContent = message;
  line.hidden = false;
  input.setAttribute('aria-invalid', 'true');
  input.focus();
}

async function onSubmit(event: SubmitEvent): Promise<void> {
  event.preventDefault();
  const current = editing;
  if (current === null || save.disabled) return;
  clearErrors();
  const values: (number | null)[] = [];
  for (const field of FIELDS) {
    const read = limitValue(field.input);
    if ('problem' in read) return showError(field.input, field.error, read.problem);
    values.push(read.value);
  }
  save.disabled = true;
  try {
    const token = await current.ctx.api.setLimits(current.token.id, limitsBody(values[0], values[1]));
    closeLimitsDialog();
    current.saved(token);
  } catch (err) {
    save.disabled = false;
    const field = err instanceof ApiError ? FIELDS.find((f) => f.api === err.field) : undefined;
    if (field !== undefined && err instanceof Error) return showError(field.input, field.error, err.message);
    current.ctx.fail(err, formError);
  }
}

form.addEventListener('submit', (event) => void onSubmit(event));
byId('limits-cancel', HTMLButtonElement).addEventListener('click', closeLimitsDialog);
dialog.addEventListener('close', () => { editing = null; });
