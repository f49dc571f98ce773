import t from 'tap';
import { secretRedactor } from '../../gateway/log-redaction';

const redact = secretRedactor(['authorization', 'headers.authorization', '*.secret', '*.headers.authorization', 'token.hash'], '[x]');

t.test('censors top-level keys, named nested paths and paths under any key', async (t) => {
  t.same(redact({ authorization: 'Bearer a', keep: 1 }), { authorization: '[x]', keep: 1 });
  t.same(redact({ headers: { authorization: 'Bearer a', host: 'h' } }), { headers: { authorization: '[x]', host: 'h' } });
  t.same(redact({ token: { id: 't', hash: 'h', secret: 's' } }), { token: { id: 't', hash: '[x]', secret: '[x]' } });
  t.same(redact({ upstream: { headers: { authorization: 'Bearer a' } } }), { upstream: { headers: { authorization: '[x]' } } });
  t.same(redact({ ctx: { hash: 'h' } }), { ctx: { hash: 'h' } }, 'token.hash names one key, not any');
  t.same(redact({ a: { b: { secret: 's' } } }), { a: { b: { secret: 's' } } }, '* matches one level only');
});

t.test('never changes the caller\'s object, and returns it as is when nothing is censored', async (t) => {
  const line = { request_id: 'r', status: 200, deployment: 'd', nested: { ok: true } };
  t.equal(redact(line), line, 'a request line passes without a copy');
  const input = { req: { headers: { authorization: 'Bearer a', host: 'h' } }, other: { x: 1 } };
  const out = redact(input);
  t.same(input, { req: { headers: { authorization: 'Bearer a', host: 'h' } }, other: { x: 1 } }, 'input untouched');
  t.equal(out.other, input.other, 'untouched branches are shared, not copied');
});

t.test('refuses path shapes it cannot honour', async (t) => {
  t.throws(() => secretRedactor(['a.*.b'], '[x]'), /unsupported redaction path/);
  t.throws(() => secretRedactor(['a..b'], '[x]'), /unsupported redaction path/);
});

t.test('with a secret prefix, censors secret-shaped runs in top-level strings only', async (t) => {
  const scrub = secretRedactor(['authorization'], '[x]', 'gth_');
  const line = { path: '/ws?access_token=gth_abc123&b=gth_Z', method: 'GET', status: 200, nested: { path: '/gth_abc' } };
  const out = scrub(line);
  t.same(out, { path: '/ws?access_token=gth_[x]&b=gth_[x]', method: 'GET', status: 200, nested: { path: '/gth_abc' } });
  t.equal(line.path, '/ws?access_token=gth_abc123&b=gth_Z', 'input untouched');
  const clean = { path: '/x?q=gth', status: 200 };
  t.equal(scrub(clean), clean, 'a line without one passes without a copy');
});
