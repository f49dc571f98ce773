/**
 * Copies a read-only field's text, saying so in `status`. Without clipboard
 * permission the text is selected instead, for the user to copy by hand.
 */
export async function copyField(field: HTMLInputElement, status: HTMLElement, what: string): Promise<void> {
  try {
    await navigator.clipboard.writeText(field.value);
    status.textContent = 'Copied to the clipboard.';
  } catch {
    field.focus();
    field.select();
    status.textContent = `Could not copy automatically: the ${what} is selected, press Ctrl+C (⌘C).`;
  }
}
