import { ACCESS_TYPES, type AccessType, type DeploymentView } from './api.js';
import { byId, el, say } from './dom.js';
import type { SignedIn } from './session.js';

const table = byId('deployments-table', HTMLTableElement);
const status = byId('deployments-status', HTMLParagraphElement);
const empty = byId('deployments-empty', HTMLParagraphElement);

const MEANING: Record<AccessType, string> = {
  private: 'the external listener answers 404 for it; only the internal listener reaches it',
  protected: 'a user token with access to it is required',
  public: 'anyone can call it, no token needed',
};

/** Loads the Deployments into the table; `notice` reports the change that led here. */
export async function showDeployments(ctx: SignedIn, notice = ''): Promise<void> {
  let deployments: DeploymentView[];
  try {
    deployments = await ctx.api.deployments();
  } catch (err) {
    ctx.fail(err, status);
    return;
  }
  if (!ctx.isCurrent()) return;
  deployments.sort((a, b) => a.name.localeCompare(b.name));
  table.tBodies[0].replaceChildren(...deployments.map((d) => row(ctx, d)));
  empty.hidden = deployments.length > 0;
  say(status, notice, 'ok');
}

/** Forgets the rows (on sign out nothing of the session stays on the page). */
export function clearDeployments(): void {
  table.tBodies[0].replaceChildren();
  say(status, '');
}

function row(ctx: SignedIn, deployment: DeploymentView): HTMLTableRowElement {
  const fromConfig = deployment.config_managed;
  return el('tr', { 'data-deployment': deployment.name },
    el('th', { scope: 'row', 'data-label': 'Name' }, el('span', { class: 'name' }, deployment.name),
      el('ul', { class: 'plain hosts' }, ...[deployment.default_host, ...deployment.hosts].map((h) => el('li', {}, h)))),
    el('td', { 'data-label': 'Access type' }, fromConfig ? accessBadge(deployment.access) : accessPicker(ctx, deployment)),
    el('td', { 'data-label': 'Protocol' }, deployment.protocol === 'grpc' ? 'gRPC' : 'HTTP'),
    el('td', { 'data-label': 'Upstreams' }, el('ul', { class: 'plain mono' }, ...deployment.upstreams.map((u) => el('li', {}, u)))),
    el('td', { 'data-label': 'Managed by' }, fromConfig
      ? el('span', { class: 'badge managed-config', title: 'Change it in the config file' }, 'Config file')
      : el('span', { class: 'badge managed-store', title: 'Created through the admin API' }, 'Store')),
  );
}

function accessBadge(access: AccessType): HTMLElement {
  return el('span', { class: `access access-${access}`, title: MEANING[access] }, access);
}

function accessPicker(ctx: SignedIn, deployment: DeploymentView): HTMLElement {
  const id = `access-${deployment.name}`;
  const select = el('select', { id, class: `access-select access-${deployment.access}` },
    ...ACCESS_TYPES.map((a) => el('option', { value: a, selected: a === deployment.access }, a)));
  select.addEventListener('change', () => void changeAccess(ctx, deployment, select));
  return el('span', { class: 'picker' }, el('label', { for: id, class: 'visually-hidden' }, `Access type of ${deployment.name}`), select);
}

async function changeAccess(ctx: SignedIn, deployment: DeploymentView, select: HTMLSelectElement): Promise<void> {
  const access = select.value as AccessType;
  select.disabled = true;
  try {
    await ctx.api.setAccess(deployment.name, access);
  } catch (err) {
    select.value = deployment.access;
    select.disabled = false;
    ctx.fail(err, status);
    return;
  }
  await showDeployments(ctx, `"${deployment.name}" is now ${access}: ${MEANING[access]}.`);
  table.querySelector<HTMLSelectElement>(`#${CSS.escape(`access-${deployment.name}`)}`)?.focus();
}
