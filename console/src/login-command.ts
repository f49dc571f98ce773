import { byId } from './dom.js';
import { copyField } from './clipboard.js';

const pane = byId('login-pane', HTMLDivElement);
const command = byId('login-command', HTMLInputElement);
const copyStatus = byId('login-copy-status', HTMLParagraphElement);

/** Beside a new developer token's secret: the CLI command that signs in with it on this admin listener. */
export function showLoginCommand(secret: string | null): void {
  copyStatus.textContent = '';
  // The console is served by the admin listener, so its origin is the --endpoint.
  command.value = secret === null ? '' : `gatehouse login --api-token ${secret} --endpoint ${location.origin}`;
  pane.hidden = secret === null;
}

byId('login-copy', HTMLButtonElement).addEventListener('click', () => void copyField(command, copyStatus, 'command'));
