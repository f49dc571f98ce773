import type { RequestLogLine } from '../../gateway/log';
import t from 'tap';
import { generateSecret } from '../../gateway/auth/token-format';
import { hostOf, startGateway } from '../helpers/gateway';
import { get } from '../helpers/http';
import { startUpstream } from '../helpers/upstream';
import { malformedAuthorizations } from '../auth/decision-matrix';

/** A request line as parsed from stdout: the gateway's own shape plus pino's `msg`. */
type Line = Partial<RequestLogLine> & { msg?: string };

t.test('one JSON line per request, with its decision, and never a secret', async (t) => {
  const up = await startUpstream(t);
  const dead = await startUpstream(t);
  await dead.close();
  const gw = await startGateway(t, {
    deployments: [
      { name: 'guarded', access: 'protected', upstreams: [up.url] },
      { name: 'other', access: 'protected', upstreams: [up.url] },
      { name: 'open', access: 'public', upstreams: [up.url] },
      { name: 'hidden', access: 'private', upstreams: [up.url] },
      { name: 'dead', access: 'public', upstreams: [dead.url] },
    ],
    extra: { failedAuth: { perMinute: 1000 } },
  });
  const valid = await gw.mint({ user: ['guarded'] });
  const uncached = await gw.mint({ user: ['guarded'] });
  const disabled = await gw.mint({ user: ['guarded'] });
  await gw.gateway.runtime.store.updateToken(disabled.token.id, { disabled: true });
  const unknown = generateSecret();
  const malformed = malformedAuthorizations();
  const sent: string[] = [valid.secret, uncached.secret, disabled.secret, unknown, ...malformed];

  let n = 0;
  const expected: Array<{ id: string; want: Partial<Line> & { token_id?: string } }> = [];
  async function request(base: string, name: string, authorization: string | undefined, want: Partial<Line>): Promise<void> {
    const id = `log-test-${++n}`;
    const reply = await get(base + '/x', { host: hostOf(name), 'x-request-id': id, ...(authorization === undefined ? {} : { authorization }) });
    t.equal(reply.status, want.status, `${id}: ${name} answers ${want.status}`);
    expected.push({ id, want });
  }

  await request(gw.external, 'open', undefined, { listener: 'external', deployment: 'open', reason: 'public', status: 200 });
  await request(gw.external, 'guarded', `Bearer ${valid.secret}`, { listener: 'external', deployment: 'guarded', reason: 'token', status: 200, token_id: valid.token.id });
  await request(gw.external, 'guarded', undefined, { deployment: 'guarded', reason: 'missing_token', status: 401 });
  await request(gw.external, 'guarded', `Bearer ${unknown}`, { deployment: 'guarded', reason: 'invalid_token', status: 401 });
  await request(gw.external, 'guarded', `Bearer ${disabled.secret}`, { deployment: 'guarded', reason: 'invalid_token', status: 401, token_id: disabled.token.id });
  for (const authorization of malformed) await request(gw.external, 'guarded', authorization, { reason: 'invalid_token', status: 401 });
  await request(gw.external, 'other', `Bearer ${valid.secret}`, { deployment: 'other', reason: 'insufficient_scope', status: 403, token_id: valid.token.id });
  await request(gw.external, 'hidden', `Bearer ${valid.secret}`, { reason: 'not_found', status: 404 });
  await request(gw.external, 'dead', `Bearer ${valid.secret}`, { deployment: 'dead', reason: 'upstream_unavailable', status: 502 });
  await request(gw.internal, 'hidden', `Bearer ${valid.secret}`, { listener: 'internal', deployment: 'hidden', reason: 'internal', status: 200 });
  await gw.gateway.runtime.store.close(); // the store is gone: an uncached token is a 503, logged with its cause
  await request(gw.external, 'guarded', `Bearer ${uncached.secret}`, { deployment: 'guarded', reason: 'store_unavailable', status: 503 });

  // The line is written as the response ends; give the last one a moment.
  const deadline = Date.now() + 2_000;
  while (Date.now() < deadline && !gw.logs.some((l) => l.request_id === `log-test-${n}` && l.msg === 'request')) {
    await new Promise((r) => setTimeout(r, 20));
  }

  for (const { id, want } of expected) {
    const lines = (gw.logs as Line[]).filter((l) => l.request_id === id && l.msg === 'request');
    t.equal(lines.length, 1, `${id}: exactly one request line`);
    const line = lines[0] ?? {};
    t.match(line, { listener: 'external', ...want }, `${id}: fields`);
    t.ok(typeof line.duration_ms === 'number' && line.duration_ms >= 0, `${id}: duration_ms`);
    if (want.token_id === undefined) t.notOk(line.token_id, `${id}: no token id`);
  }
  t.ok(gw.logs.some((l) => l.request_id === `log-test-${n}` && l.msg !== 'request' && l.err !== undefined), 'the store failure is logged with its cause');

  const raw = gw.rawLog();
  t.ok(raw.length > 0, 'the log was captured');
  for (const value of sent) {
    for (const fragment of [value, value.replace(/^\S+\s+/, ''), value.slice(4, 34)].filter((f) => f.length >= 8)) {
      t.notOk(raw.includes(fragment), `no trace of ${JSON.stringify(fragment.slice(0, 12))}…`);
    }
  }
  t.notMatch(raw, /gth_[0-9A-Za-z]{8}/, 'nothing that looks like a secret');
  t.notMatch(raw, /bearer/i, 'no Authorization value at all');
});
