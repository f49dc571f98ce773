import t from 'tap';
import type { Locator, Page } from 'playwright-core';
import { startGateway } from '../helpers/gateway';
import { within } from '../helpers/ops';
import { startUpstream } from '../helpers/upstream';
import { evaluate, launchBrowser, shown } from './browser';
import { api, buildConsole, callDeployment } from './console-helpers';

// The console is served from its build output: build it from the current sources first.
buildConsole();

function tokenRow(page: Page, name: string): Locator {
  return page.locator('#tokens-table tbody tr', { has: page.locator('th .name', { hasText: new RegExp(`^${name}$`) }) });
}

t.test('console: usage in the last 24 h, Rotate, the CLI login command, the Audit page', async (t) => {
  const up = await startUpstream(t);
  const gw = await startGateway(t, { deployments: [{ name: 'summarizer', access: 'protected', upstreams: [up.url] }] });
  const { secret: dev } = await gw.mint({ name: 'alice-console', developer: true, owner: 'alice' });
  const caller = await gw.mint({ name: 'caller', user: ['summarizer'] });
  for (let i = 0; i < 3; i++) t.equal((await callDeployment(gw, 'summarizer', caller.secret)).status, 200);
  await gw.gateway.runtime.usage.flush();

  const { page, errors } = await launchBrowser(t);
  await page.goto(`${gw.admin}/console`);
  await page.getByLabel('Developer token').fill(dev);
  await page.getByRole('button', { name: 'Sign in' }).click();

  await t.test('the API Tokens page shows each token\'s requests in the last 24 hours', async (t) => {
    const cell = tokenRow(page, 'caller').locator('td[data-label="Requests (24 h)"]');
    await cell.filter({ hasText: /^3$/ }).waitFor();
    t.equal((await cell.textContent())?.trim(), '3');
  });

  await t.test('Rotate shows the new secret once; the old one works for the chosen overlap', async (t) => {
    await tokenRow(page, 'caller').getByRole('button', { name: /^Rotate/ }).click();
    const dialog = page.getByRole('dialog', { name: 'Rotate secret' });
    await dialog.waitFor();
    await dialog.getByLabel('The old secret keeps working').selectOption({ label: 'For 1 hour' });
    await dialog.getByRole('button', { name: 'Rotate', exact: true }).click();
    const field = dialog.getByLabel('New secret of "caller"');
    await field.waitFor();
    const secret = await field.inputValue();
    t.match(secret, /^gth_[0-9A-Za-z]{36}$/);
    t.match(await dialog.textContent(), /will not be shown again.*The old secret works until/s);
    await dialog.getByRole('button', { name: 'Copy' }).click();
    t.match(await shown(dialog.locator('#rotate-copy-status')), /Copied/);
    t.equal(await evaluate(page, 'navigator.clipboard.readText()'), secret);
    t.equal((await callDeployment(gw, 'summarizer', secret)).status, 200, 'the new secret works');
    t.equal((await callDeployment(gw, 'summarizer', caller.secret)).status, 200, 'the old one, for the overlap');
    await dialog.getByRole('button', { name: 'Done' }).click();
    await dialog.waitFor({ state: 'hidden' });
    t.notOk((await evaluate<string>(page, '[...document.querySelectorAll("input")].map((i) => i.value).join() + document.body.innerText')).includes(secret),
      'closing the dialog forgets the secret');

    await tokenRow(page, 'caller').getByRole('button', { name: /^Disable/ }).click();
    await tokenRow(page, 'caller').getByText('Disabled', { exact: true }).waitFor();
    t.ok(await tokenRow(page, 'caller').getByRole('button', { name: /^Rotate/ }).isDisabled(), 'a disabled token cannot be rotated');
  });

  await t.test('after a Developer token is created: the login command with this admin URL, and a Copy button', async (t) => {
    await page.getByRole('button', { name: 'Create', exact: true }).click();
    const dialog = page.getByRole('dialog', { name: 'Create API token' });
    await dialog.getByLabel('Name').fill('laptop');
    await dialog.getByLabel('Developer (API access)').check();
    await dialog.getByRole('button', { name: 'Create token' }).click();
    const secret = await (async () => { const f = dialog.getByLabel('Secret of "laptop"'); await f.waitFor(); return f.inputValue(); })();
    const command = dialog.getByLabel('Use it with the CLI');
    t.equal(await command.inputValue(), `gatehouse login --api-token ${secret} --endpoint ${gw.admin}`);
    await dialog.getByRole('button', { name: 'Copy the login command' }).click();
    t.match(await shown(dialog.locator('#login-copy-status')), /Copied/);
    t.equal(await evaluate(page, 'navigator.clipboard.readText()'), await command.inputValue());
    await dialog.getByRole('button', { name: 'Done' }).click();

    await page.getByRole('button', { name: 'Create', exact: true }).click();
    await dialog.getByLabel('Name').fill('user-only');
    await dialog.getByLabel('User (Deployment Endpoint Access)').check();
    await dialog.getByLabel(/^summarizer/).check();
    await dialog.getByRole('button', { name: 'Create token' }).click();
    await dialog.getByLabel('Secret of "user-only"').waitFor();
    t.ok(await page.locator('#login-pane').isHidden(), 'not for a user-only token: it cannot log in');
    await dialog.getByRole('button', { name: 'Done' }).click();
  });

  await t.test('the Audit page lists the changes, newest first, and pages on', async (t) => {
    for (let i = 0; i < 50; i++) await api(gw, dev, 'PATCH', `/v1/tokens/${caller.token.id}`, { description: `note ${i}` });
    await page.getByRole('link', { name: 'Audit' }).click();
    await page.getByRole('heading', { name: 'Audit' }).waitFor();
    const rows = page.locator('#audit-table tbody tr');
    await rows.first().waitFor();
    t.equal(await rows.count(), 50, 'one page of 50');
    t.match(await rows.first().textContent(), new RegExp(`token\\.update${caller.token.id}alice`));
    await page.getByRole('button', { name: 'Show older' }).click();
    t.not(await within(3_000, async () => (await rows.count()) === 54), null, 'the older ones follow');
    const actions = (await rows.locator('td[data-label="Action"]').allTextContents()).slice(50);
    t.same(actions, ['token.create', 'token.create', 'token.update', 'token.rotate'], 'down to the first change: the rotation');
    t.ok(await page.getByRole('button', { name: 'Show older' }).isHidden(), 'no more pages');
  });

  t.same(errors, [], 'no page errors, no Content-Security-Policy refusals');
});
