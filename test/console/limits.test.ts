import t from 'tap';
import { startGateway } from '../helpers/gateway';
import { startUpstream } from '../helpers/upstream';
import { evaluate, launchBrowser, shown } from './browser';
import { api, buildConsole, callDeployment } from './console-helpers';

// The console is served from its build output: build it from the current sources first.
buildConsole();

t.test('limits in the console: the Create dialog and the token row', async (t) => {
  const up = await startUpstream(t);
  const gw = await startGateway(t, { deployments: [{ name: 'summarizer', access: 'protected', upstreams: [up.url] }] });
  const { secret: dev } = await gw.mint({ name: 'alice-console', developer: true, owner: 'alice' });
  const { page } = await launchBrowser(t);
  await page.goto(`${gw.admin}/console`);
  await page.getByLabel('Developer token').fill(dev);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'API Tokens' }).waitFor();

  await page.getByRole('button', { name: 'Create', exact: true }).click();
  const dialog = page.getByRole('dialog', { name: 'Create API token' });
  await dialog.getByLabel(/^summarizer/).waitFor({ state: 'attached' });
  await dialog.getByLabel('Name').fill('llm-batch');
  await dialog.getByLabel('User (Deployment Endpoint Access)').check();
  await dialog.getByLabel(/^summarizer/).check();
  await dialog.getByLabel('Requests per minute').fill('0');
  await dialog.getByRole('button', { name: 'Create token' }).click();
  t.match(await shown(dialog.locator('#token-rate-error')), /whole number from 1/, 'a bad limit is refused in place');
  await dialog.getByLabel('Requests per minute').fill('6');
  await dialog.getByLabel('Concurrent requests and streams').fill('2');
  await dialog.getByRole('button', { name: 'Create token' }).click();
  const secretField = dialog.getByLabel('Secret of "llm-batch"');
  await secretField.waitFor();
  const secret = await secretField.inputValue();
  await dialog.getByRole('button', { name: 'Done' }).click();

  const row = page.locator('#tokens-table tbody tr', { has: page.locator('th .name', { hasText: /^llm-batch$/ }) });
  const cell = row.getByRole('button', { name: /^Edit limits/ });
  t.equal((await cell.textContent())?.trim(), '6/min · 2 at once', 'the row shows the limits, under the status');
  t.equal((await callDeployment(gw, 'summarizer', secret)).status, 200);
  t.equal((await callDeployment(gw, 'summarizer', secret)).status, 429, 'and the gateway applies them');

  await cell.click();
  const edit = page.getByRole('dialog', { name: 'Limits of "llm-batch"' });
  await edit.waitFor();
  t.equal(await edit.getByLabel('Requests per minute').inputValue(), '6', 'the dialog starts from the current limits');
  t.equal(await evaluate(page, 'document.activeElement.id'), 'limits-rate');
  await edit.getByLabel('Requests per minute').fill('');
  await edit.getByLabel('Concurrent requests and streams').fill('5');
  await edit.getByRole('button', { name: 'Save limits' }).click();
  await edit.waitFor({ state: 'hidden' });
  await page.getByText('"llm-batch" is limited to 5 at once.').waitFor();
  t.equal((await cell.textContent())?.trim(), '5 at once');
  const id = (await row.getAttribute('data-token-id')) ?? '';
  t.same((await api(gw, dev, 'GET', `/v1/tokens/${id}`)).json<{ token: { limits: unknown } }>().token.limits, { requests_per_minute: null, concurrent: 5 }, 'PATCHed');
  t.equal((await callDeployment(gw, 'summarizer', secret)).status, 200, 'the rate limit is gone');

  await cell.click();
  await edit.getByLabel('Concurrent requests and streams').fill('');
  await edit.getByRole('button', { name: 'Save limits' }).click();
  await page.getByText('"llm-batch" has no limits of its own now.').waitFor();
  t.equal((await cell.textContent())?.trim(), 'No limits');
});
