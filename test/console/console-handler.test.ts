import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { CONSOLE_CSP, consoleHandler } from '../../gateway/admin/console/console-handler';
import { startGateway, type Teardown } from '../helpers/gateway';
import type { Runtime } from '../../gateway/runtime';
import { get } from '../helpers/http';
import { copyConsoleAssets } from './console-helpers';

/** Serves `consoleHandler` from `dir` on its own port; returns the base URL. */
async function serveConsole(t: Teardown, runtime: Runtime, dir: string): Promise<string> {
  const server = http.createServer(consoleHandler(runtime, dir));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

t.test('console assets: revalidation, HEAD, and an unbuilt console', async (t) => {
  const gw = await startGateway(t, { deployments: [] });
  // Files of its own: the end-to-end test rebuilds dist/console meanwhile.
  const built = mkdtempSync(join(tmpdir(), 'gatehouse-console-'));
  const empty = mkdtempSync(join(tmpdir(), 'gatehouse-console-'));
  t.teardown(() => {
    rmSync(built, { recursive: true, force: true });
    rmSync(empty, { recursive: true, force: true });
  });
  copyConsoleAssets(built);
  const base = await serveConsole(t, gw.gateway.runtime, built);

  const first = await get(base + '/console/console.css');
  t.equal(first.status, 200);
  t.equal(first.headers['content-type'], 'text/css; charset=utf-8');
  t.equal(first.headers['cache-control'], 'no-cache');
  t.equal(first.headers['content-security-policy'], CONSOLE_CSP);
  const again = await get(base + '/console/console.css', { 'if-none-match': String(first.headers.etag) });
  t.equal(again.status, 304, 'an unchanged file is not sent again');
  t.equal(again.text, '');

  const head = await get(base + '/console/', {}, { method: 'HEAD' });
  t.equal(head.status, 200);
  t.equal(head.text, '');
  t.ok(Number(head.headers['content-length']) > 0);

  const unbuilt = await get(`${await serveConsole(t, gw.gateway.runtime, empty)}/console`);
  t.equal(unbuilt.status, 503, 'a console that was not built says so');
  t.match(unbuilt.text, /npm run build/);
  t.equal(unbuilt.headers['content-security-policy'], CONSOLE_CSP);
  t.ok(gw.logs.some((line) => line.msg === 'the web console is not built; run npm run build'), 'and logs it');
});
