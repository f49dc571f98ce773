import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import t from 'tap';
import type { Locator, Page } from 'playwright-core';
import { generateSecret } from '../../gateway/auth/token-format';
import { CONSOLE_CSP } from '../../gateway/admin/console/console-handler';
import { startGateway } from '../helpers/gateway';
import { get } from '../helpers/http';
import { startUpstream } from '../helpers/upstream';
import { evaluate, launchBrowser, shown } from './browser';
import { api, buildConsole, callDeployment, externalStatusWithin } from './console-helpers';

// The README's screenshots are rewritten only on request (UPDATE_SCREENSHOTS=1), so test runs leave the tree clean.
const DOCS = process.env.UPDATE_SCREENSHOTS === '1' ? resolve(__dirname, '..', '..', 'docs') : mkdtempSync(join(tmpdir(), 'gatehouse-shots-'));

// The console is served from its build output: build it from the current sources first.
buildConsole();

function tokenRow(page: Page, name: string): Locator {
  return page.locator('#tokens-table tbody tr', { has: page.locator('th .name', { hasText: new RegExp(`^${name}$`) }) });
}

t.test('the web console, end to end in Chromium', async (t) => {
  const up = await startUpstream(t);
  const gw = await startGateway(t, {
    deployments: [
      { name: 'summarizer', access: 'protected', upstreams: [up.url] },
      { name: 'status', access: 'public', upstreams: [up.url] },
    ],
  });
  const { secret: dev, token: devToken } = await gw.mint({ name: 'alice-console', developer: true, owner: 'alice' });
  for (const [name, spec] of Object.entries({
    // Never called through: these upstreams need not exist.
    translator: { access: 'protected', protocol: 'http', upstreams: ['http://127.0.0.1:3101'] },
    embeddings: { access: 'public', protocol: 'http', upstreams: ['http://127.0.0.1:3201', 'http://127.0.0.1:3202'] },
    'batch-scorer': { access: 'private', protocol: 'grpc', upstreams: ['http://127.0.0.1:50051'] },
    scratch: { access: 'protected', protocol: 'http', upstreams: [up.url] },
  })) {
    t.equal((await api(gw, dev, 'PUT', `/v1/deployments/${name}`, spec)).status, 201, `store-managed Deployment ${name}`);
  }
  const userOnly = await api(gw, dev, 'POST', '/v1/tokens', { name: 'ci-summarizer', description: 'CI smoke tests', user: { deployments: ['summarizer'] } });
  t.equal(userOnly.status, 201);
  const userSecret = userOnly.json<{ secret: string }>().secret;
  t.equal((await api(gw, dev, 'POST', '/v1/tokens', { name: 'ops-oncall', description: 'On-call engineers', user: { deployments: ['*'] }, developer: true })).status, 201);
  t.equal((await callDeployment(gw, 'summarizer', userSecret)).status, 200, 'the seeded user token works');
  // Last use is written in batches a minute apart; record one now so the table has something to show.
  const lastUse = new Date(Date.now() - 3 * 60_000).toISOString();
  await gw.gateway.runtime.store.touchTokens(new Map([[userOnly.json<{ token: { id: string } }>().token.id, lastUse], [devToken.id, new Date().toISOString()]]));

  const { page, context, requests, errors } = await launchBrowser(t);
  const posts: number[] = [];
  page.on('response', (res) => {
    if (res.request().method() === 'POST' && res.url().endsWith('/v1/tokens')) posts.push(res.status());
  });

  await t.test('serves its assets itself, under a strict Content-Security-Policy', async (t) => {
    for (const path of ['/console', '/console/', '/console/main.js', '/console/console.css']) {
      const res = await get(gw.admin + path);
      t.equal(res.status, 200, path);
      t.equal(res.headers['content-security-policy'], CONSOLE_CSP, `${path} has the CSP`);
      t.equal(res.headers['x-content-type-options'], 'nosniff');
    }
    t.match(CONSOLE_CSP, /default-src 'self'/);
    t.notMatch(CONSOLE_CSP, /unsafe-inline|unsafe-eval|https?:|\*/, 'nothing inline, nothing from elsewhere');
    t.match(CONSOLE_CSP, /frame-ancestors 'none'/);
    const html = (await get(gw.admin + '/console')).text;
    t.equal((await get(gw.admin + '/console')).headers['content-type'], 'text/html; charset=utf-8');
    const scripts = [...html.matchAll(/<script\b[^>]*>/g)].map((m) => m[0]);
    t.ok(scripts.length > 0 && scripts.every((s) => /\bsrc="\/console\//.test(s)), 'every script is a file of the console');
    t.notMatch(html, /<style\b|\bstyle="|\bon[a-z]+="/i, 'no inline style or event handler attributes');
    t.notMatch(html + (await get(gw.admin + '/console/console.css')).text, /https?:\/\/|@import|@font-face/, 'no outside URL, import or web font');
    t.equal((await get(gw.admin + '/console/nothing.js')).status, 404);
    t.equal((await get(gw.admin + '/console/%2e%2e/package.json')).status, 404, 'only the built files are served');
    t.equal((await get(gw.admin + '/console', {}, { method: 'POST', body: '' })).status, 405);
  });

  await t.test('sign in: bad token, user-only token, developer token', async (t) => {
    await page.goto(`${gw.admin}/console`);
    const field = page.getByLabel('Developer token');
    const submit = page.getByRole('button', { name: 'Sign in' });
    const message = page.locator('#sign-in-error');

    await field.fill(generateSecret());
    await submit.click();
    t.match(await shown(message), /not valid/, 'an unknown token: 401 in words');

    await field.fill(userSecret);
    await submit.click();
    await page.getByText('no developer access').waitFor();
    t.match(await shown(message), /no developer access/, 'a user-only token: 403 in words');
    t.ok(await page.locator('#tokens-view').isHidden(), 'nothing is shown to it');

    await field.fill(dev);
    await submit.click();
    const who = await shown(page.locator('#who'));
    t.match(who, /alice/, 'shows the user');
    t.match(who, /acme/, 'shows the organization');
    await page.getByRole('heading', { name: 'API Tokens' }).waitFor();
    const storage = await evaluate<{ session: string | null; local: number; cookie: string }>(page,
      '({ session: sessionStorage.getItem("gatehouse.console.token"), local: localStorage.length, cookie: document.cookie })');
    t.equal(storage.session, dev, 'the token is in sessionStorage');
    t.equal(storage.local, 0, 'never in localStorage');
    t.equal(storage.cookie, '', 'never in a cookie');
    t.same(await context.cookies(), []);
  });

  await t.test('the API Tokens table', async (t) => {
    const headers = await page.locator('#tokens-table thead th').allTextContents();
    t.same(headers.map((h) => h.trim()), ['Name', 'Description', 'Types', 'Deployments', 'Created', 'Last used', 'Requests (24 h)', 'Expires', 'Status', 'Actions']);
    const row = tokenRow(page, 'ops-oncall');
    t.match(await row.textContent(), /On-call engineers/);
    t.match(await row.textContent(), /User.*Developer/);
    t.match(await row.textContent(), /All Deployments/);
    t.match(await row.textContent(), /Active/);
    t.match(await tokenRow(page, 'alice-console').textContent(), /this session/);
    t.ok(await evaluate<boolean>(page, 'document.querySelector("#tokens-view .table-wrap").scrollWidth <= document.querySelector("#tokens-view .table-wrap").clientWidth'),
      'the whole table fits a 1280px window');
    t.equal(await tokenRow(page, 'ci-summarizer').locator('td[data-label="Last used"] time').getAttribute('datetime'), lastUse, 'last use is shown');
    t.match(await tokenRow(page, 'ops-oncall').locator('td[data-label="Last used"]').textContent(), /Never/);
  });

  await t.test('the Create dialog refuses incomplete forms and shows server errors in place', async (t) => {
    await page.getByRole('button', { name: 'Create', exact: true }).focus();
    await page.keyboard.press('Enter');
    const dialog = page.getByRole('dialog', { name: 'Create API token' });
    await dialog.waitFor();
    t.equal(await evaluate(page, 'document.activeElement.id'), 'token-name', 'keyboard focus starts in the Name field');
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'hidden' });
    t.equal(await evaluate(page, 'document.activeElement.id'), 'create-open', 'Escape closes it; focus goes back to Create');

    await page.getByRole('button', { name: 'Create', exact: true }).click();
    await dialog.getByLabel(/^scratch/).waitFor({ state: 'attached' });
    const unlabelled = await evaluate<string[]>(page,
      '[...document.querySelectorAll("input, select, textarea")].filter((c) => c.labels.length === 0 && !c.getAttribute("aria-label")).map((c) => c.id)');
    t.same(unlabelled, [], 'every control has a label');
    const create = dialog.getByRole('button', { name: 'Create token' });
    await create.click();
    t.match(await shown(dialog.locator('#token-name-error')), /Enter a name/);
    t.match(await shown(dialog.locator('#token-type-error')), /at least one type/);
    t.equal(await dialog.getByLabel('Name').getAttribute('aria-invalid'), 'true');

    await dialog.getByLabel('Name').fill('nightly-batch');
    await dialog.getByLabel('Description').fill('Nightly summaries of support tickets');
    await dialog.getByLabel('User (Deployment Endpoint Access)').check();
    await create.click();
    t.match(await shown(dialog.locator('#token-deployments-error')), /at least one Deployment/);
    t.ok(await dialog.locator('#token-type-error').isHidden(), 'the type error is gone once a type is chosen');
    t.same(posts, [], 'nothing was sent while the form was incomplete');

    // The server catches what the browser cannot know: the Deployment went away meanwhile.
    await dialog.getByLabel(/^scratch/).check();
    t.equal((await api(gw, dev, 'DELETE', '/v1/deployments/scratch')).status, 204);
    await create.click();
    t.match(await shown(dialog.locator('#token-deployments-error')), /^Unknown Deployment "scratch"/, 'the 400 appears next to the Deployments');
    t.same(posts, [400]);
    await dialog.getByLabel(/^scratch/).uncheck();

    await dialog.getByLabel('All Deployments').check();
    t.ok(await dialog.getByLabel(/^summarizer/).isDisabled(), '"all" makes single choices moot');
    await dialog.getByLabel('All Deployments').uncheck();
    await dialog.getByLabel('Developer (API access)').check();
    await dialog.getByLabel('Developer (API access)').uncheck();
  });

  let created = '';
  await t.test('create a user token for one Deployment, read its secret once, call the Deployment', async (t) => {
    const dialog = page.getByRole('dialog', { name: 'Create API token' });
    await dialog.getByLabel(/^summarizer/).check();
    await dialog.getByLabel('Expires').selectOption({ label: 'In 30 days' });
    const submittedAt = Date.now();
    await dialog.getByRole('button', { name: 'Create token' }).click();
    const secretField = dialog.getByLabel('Secret of "nightly-batch"');
    await secretField.waitFor();
    created = await secretField.inputValue();
    t.match(created, /^gth_[0-9A-Za-z]{36}$/, 'the secret is shown');
    t.match(await dialog.textContent(), /will not be shown again/);
    t.same(posts, [400, 201]);

    await dialog.getByRole('button', { name: 'Copy' }).click();
    t.match(await shown(dialog.locator('#copy-status')), /Copied/);
    t.equal(await evaluate(page, 'navigator.clipboard.readText()'), created, 'Copy puts the secret on the clipboard');

    t.equal((await callDeployment(gw, 'summarizer', created)).status, 200, 'the new token opens its Deployment');
    t.equal((await callDeployment(gw, 'translator', created)).status, 403, 'and no other');

    await dialog.getByRole('button', { name: 'Done' }).click();
    await dialog.waitFor({ state: 'hidden' });
    const leftovers = await evaluate<boolean>(page,
      `document.body.innerText.includes(${JSON.stringify(created)}) || [...document.querySelectorAll('input')].some((i) => i.value === ${JSON.stringify(created)})`);
    t.notOk(leftovers, 'closing the dialog forgets the secret');
    const row = tokenRow(page, 'nightly-batch');
    await row.waitFor();
    t.match(await row.textContent(), /Nightly summaries of support tickets/);
    t.match(await row.textContent(), /summarizer/);
    const expires = Date.parse((await row.locator('td[data-label="Expires"] time').getAttribute('datetime')) ?? '');
    t.ok(Math.abs(expires - submittedAt - 30 * 86_400_000) < 60_000, 'expires in 30 days');
  });

  await t.test('disable, enable and delete a token in the page; the gateway follows', async (t) => {
    const row = tokenRow(page, 'nightly-batch');
    await row.getByRole('button', { name: /^Disable/ }).click();
    await row.getByText('Disabled', { exact: true }).waitFor();
    t.not(await externalStatusWithin(gw, 'summarizer', 401, 1500, created), -1, 'a disabled token is refused');
    await row.getByRole('button', { name: /^Enable/ }).click();
    await row.getByText('Active', { exact: true }).waitFor();
    t.not(await externalStatusWithin(gw, 'summarizer', 200, 1500, created), -1, 'enabled again, same secret');

    const confirm = page.getByRole('dialog', { name: 'Delete token "nightly-batch"?' });
    await row.getByRole('button', { name: /^Delete/ }).click();
    await confirm.waitFor();
    t.equal(await evaluate(page, 'document.activeElement.textContent'), 'Cancel', 'focus starts on Cancel');
    await confirm.getByRole('button', { name: 'Cancel' }).click();
    await confirm.waitFor({ state: 'hidden' });
    t.equal(await row.count(), 1, 'cancelled: still there');

    await row.getByRole('button', { name: /^Delete/ }).click();
    await confirm.getByRole('button', { name: 'Delete' }).click();
    const deletedAt = Date.now();
    await row.waitFor({ state: 'detached' });
    const waited = await externalStatusWithin(gw, 'summarizer', 401, 1500, created);
    t.not(waited, -1, 'the gateway refuses the deleted token');
    t.ok(Date.now() - deletedAt < 1500, `within about a second of the click (${Date.now() - deletedAt} ms)`);
    t.equal((await callDeployment(gw, 'summarizer', created)).headers['www-authenticate'], 'Bearer realm="acme", error="invalid_token"');
  });

  await t.test('the Deployments page changes a store-managed access type live', async (t) => {
    await page.getByRole('link', { name: 'Deployments' }).click();
    await page.getByRole('heading', { name: 'Deployments' }).waitFor();
    const rows = page.locator('#deployments-table tbody tr');
    await rows.first().waitFor();
    t.same(await rows.locator('th .name').allTextContents(), ['batch-scorer', 'embeddings', 'status', 'summarizer', 'translator']);
    const summarizer = page.locator('tr[data-deployment="summarizer"]');
    t.match(await summarizer.textContent(), /protected.*HTTP.*Config file/);
    t.equal(await summarizer.getByRole('combobox').count(), 0, 'config-managed: not changeable here');
    t.match(await page.locator('tr[data-deployment="batch-scorer"]').textContent(), /gRPC.*127\.0\.0\.1:50051.*Store/);
    t.equal(await page.locator('tr[data-deployment="embeddings"] td[data-label="Upstreams"] li').count(), 2, 'every upstream is listed');

    t.equal((await callDeployment(gw, 'translator')).status, 401, 'protected before');
    const access = page.getByLabel('Access type of translator');
    t.equal(await access.inputValue(), 'protected');
    await access.selectOption('private');
    t.match(await shown(page.locator('#deployments-status')), /"translator" is now private/);
    t.not(await externalStatusWithin(gw, 'translator', 404, 1000), -1, 'private: the external listener answers 404');
    t.equal((await api(gw, dev, 'GET', '/v1/deployments/translator')).json<{ deployment: { access: string } }>().deployment.access, 'private');
    t.equal(await page.getByLabel('Access type of translator').inputValue(), 'private', 'the page shows the stored value');
  });

  await t.test('screenshots at 1280×800 for the README', async (t) => {
    await page.goto(`${gw.admin}/console#/tokens`);
    await page.reload();
    await tokenRow(page, 'ops-oncall').waitFor();
    t.match(await page.locator('#who').textContent(), /alice/, 'a reload keeps the session (sessionStorage)');
    await page.screenshot({ path: join(DOCS, 'console-tokens.png') });
    await page.getByRole('link', { name: 'Deployments' }).click();
    await page.locator('tr[data-deployment="translator"]').waitFor();
    await page.screenshot({ path: join(DOCS, 'console-deployments.png') });
    for (const file of ['console-tokens.png', 'console-deployments.png']) {
      t.ok(readFileSync(join(DOCS, file)).subarray(1, 4).toString() === 'PNG', `docs/${file}`);
    }
  });

  await t.test('a narrow (400px) window: no sideways scrolling, the dialog fits', async (t) => {
    await page.setViewportSize({ width: 400, height: 800 });
    t.ok(await evaluate<number>(page, 'document.documentElement.scrollWidth') <= 400, 'Deployments page fits');
    await page.getByRole('link', { name: 'API Tokens' }).click();
    await tokenRow(page, 'ops-oncall').waitFor();
    t.ok(await evaluate<number>(page, 'document.documentElement.scrollWidth') <= 400, 'API Tokens page fits');
    t.ok(await tokenRow(page, 'ops-oncall').getByRole('button', { name: /^Delete/ }).isVisible(), 'row actions stay reachable');
    await page.getByRole('button', { name: 'Create', exact: true }).click();
    const box = await page.getByRole('dialog', { name: 'Create API token' }).boundingBox();
    t.ok(box !== null && box.x >= 0 && box.x + box.width <= 400, 'the dialog fits the window');
    await page.keyboard.press('Escape');
    await page.setViewportSize({ width: 1280, height: 800 });
  });

  await t.test('sign out forgets the token', async (t) => {
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('Developer token').waitFor();
    t.equal(await evaluate(page, 'sessionStorage.length'), 0);
    t.equal(await page.locator('#tokens-table tbody tr').count(), 0, 'no token data left in the page');
    await page.reload();
    await page.getByLabel('Developer token').waitFor();
    t.ok(await page.locator('#identity').isHidden(), 'still signed out after a reload');
  });

  t.same(errors, [], 'no page errors, no Content-Security-Policy refusals');
  const elsewhere = requests.filter((url) => new URL(url).hostname !== '127.0.0.1');
  t.same(elsewhere, [], `no request left 127.0.0.1 (${requests.length} requests)`);
});

t.test('markup in token names, descriptions and owners shows as text; a new secret is written nowhere but its dialog; a token disabled mid-session signs out', async (t) => {
  const gw = await startGateway(t, { deployments: [{ name: 'summarizer', access: 'protected', upstreams: ['http://127.0.0.1:1'] }] });
  const owner = '<img src=x onerror="window.__xss=1">mallory';
  const { secret: dev } = await gw.mint({ name: 'dev', developer: true, owner });
  const name = '<img src=x onerror=window.__xss=2>';
  const description = '<script>window.__xss=3</script><b>bold</b>';
  t.equal((await api(gw, dev, 'POST', '/v1/tokens', { name, description, user: { deployments: ['summarizer'] } })).status, 201);

  const { page, context, requests, errors } = await launchBrowser(t);
  const messages: string[] = [];
  page.on('console', (message) => messages.push(message.text()));
  await page.goto(`${gw.admin}/console`);
  await page.getByLabel('Developer token').fill(dev);
  await page.getByRole('button', { name: 'Sign in' }).click();
  const row = tokenRow(page, escapeRegExp(name));
  await row.waitFor();
  t.equal(await row.locator('th .name').textContent(), name, 'the name shows literally');
  t.equal(await row.locator('td[data-label="Description"]').textContent(), description, 'so does the description');
  t.match(await page.locator('#who').textContent(), owner, 'and the owner');
  t.equal(await page.locator('#tokens-table tbody img, #tokens-table tbody script, #tokens-table tbody b, #who img').count(), 0, 'no element was made from them');

  await row.getByRole('button', { name: /^Delete/ }).click();
  t.equal(await shown(page.locator('#confirm-title')), `Delete token "${name}"?`, 'the confirmation names it literally');
  await page.getByRole('button', { name: 'Cancel' }).click();

  await page.getByRole('button', { name: 'Create', exact: true }).click();
  const dialog = page.getByRole('dialog', { name: 'Create API token' });
  const created = '<svg onload=window.__xss=4>';
  await dialog.getByLabel('Name').fill(created);
  await dialog.getByLabel('Developer (API access)').check();
  await dialog.getByRole('button', { name: 'Create token' }).click();
  t.equal(await shown(dialog.locator('#secret-label')), `Secret of "${created}"`);
  const secret = await dialog.locator('#secret-value').inputValue();
  t.match(secret, /^gth_[0-9A-Za-z]{36}$/);
  const kept = await evaluate<string>(page,
    'JSON.stringify([location.href, document.cookie, Object.entries(localStorage), Object.entries(sessionStorage)])');
  t.notOk(kept.includes(secret), 'not in the URL, a cookie, localStorage or sessionStorage');
  t.same(await context.cookies(), []);
  await dialog.getByRole('button', { name: 'Done' }).click();
  await tokenRow(page, escapeRegExp(created)).waitFor();
  t.notOk((await evaluate<string>(page, 'document.documentElement.outerHTML + [...document.querySelectorAll("input, textarea")].map((i) => i.value).join()')).includes(secret),
    'gone from the page once the dialog closes');
  t.notOk(messages.some((m) => m.includes(secret)), 'never in the browser console');
  t.notOk(requests.some((url) => url.includes(secret)), 'never in a request URL');
  t.notOk(gw.rawLog().includes(secret), 'never in the gateway log');

  // Another developer disables the session's token: the next call signs the console out and drops what it showed.
  const { secret: admin } = await gw.mint({ name: 'admin', developer: true });
  const mine = (await api(gw, dev, 'GET', '/v1/whoami')).json<{ token: { id: string } }>().token.id;
  t.equal((await api(gw, admin, 'PATCH', `/v1/tokens/${mine}`, { disabled: true })).status, 200);
  await page.getByRole('link', { name: 'Deployments' }).click();
  t.match(await shown(page.locator('#sign-in-error')), /no longer valid/);
  t.equal(await evaluate(page, 'sessionStorage.length'), 0, 'the disabled token is forgotten');
  t.equal(await page.locator('#tokens-table tbody tr, #deployments-table tbody tr').count(), 0, 'nothing of the session is left');
  t.ok(await page.locator('#nav').isHidden());

  t.equal(await evaluate(page, 'window.__xss ?? null'), null, 'nothing ran');
  t.same(errors, [], 'no page errors, no Content-Security-Policy refusals (an inline handler would be one)');
});

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
