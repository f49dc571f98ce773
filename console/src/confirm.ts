import { byId } from './dom.js';

/**
 * Asks in the confirmation dialog; resolves true only when the confirming
 * button was pressed (Escape and Cancel resolve false). Focus starts on Cancel,
 * so a stray Enter does not delete anything.
 */
export function confirmAction(title: string, text: string, action: string): Promise<boolean> {
  const dialog = byId('confirm-dialog', HTMLDialogElement);
  byId('confirm-title', HTMLHeadingElement).textContent = title;
  byId('confirm-text', HTMLParagraphElement).textContent = text;
  byId('confirm-ok', HTMLButtonElement).textContent = action;
  dialog.returnValue = '';
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'confirm'), { once: true });
  });
}
