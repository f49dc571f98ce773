import { Writable } from 'node:stream';
import t from 'tap';
import { generateSecret } from '../../gateway/auth/token-format';
import { createLogger } from '../../gateway/log';

/** A logger writing into a string, as the process logger writes to stdout. */
function capture(): { log: ReturnType<typeof createLogger>; text: () => string } {
  let text = '';
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      text += chunk.toString();
      done();
    },
  });
  return { log: createLogger('info', sink), text: () => text };
}

t.test('credentials are redacted at the logger, whatever shape carries them', async (t) => {
  const secret = generateSecret();
  const bearer = `Bearer ${secret}`;
  const shapes: Record<string, unknown>[] = [
    { authorization: bearer },
    { Authorization: bearer },
    { headers: { authorization: bearer, host: 'a.example' } },
    { headers: { Authorization: bearer } },
    { req: { headers: { authorization: bearer } } },
    { request: { headers: { authorization: bearer } } },
    { upstream: { headers: { Authorization: bearer } } },
    { secret },
    { token: { id: 'tok_1', secret } },
    { api_token: secret },
    { context: { api_token: secret } },
  ];
  for (const shape of shapes) {
    const { log, text } = capture();
    log.info(shape, 'something happened');
    const line = JSON.parse(text()) as Record<string, unknown>;
    t.notOk(text().includes(secret.slice(4)), `no secret in ${JSON.stringify(Object.keys(shape))}: ${text()}`);
    t.match(text(), /\[redacted\]/, 'marked as redacted');
    t.equal(line.msg, 'something happened', 'the line is still written');
  }
});

t.test('redaction does not change the caller\'s object', async (t) => {
  const { log } = capture();
  const headers = { authorization: 'Bearer x', host: 'a.example' };
  log.info({ headers }, 'request');
  t.same(headers, { authorization: 'Bearer x', host: 'a.example' });
});

t.test('an error quoting a secret, itself or in its causes, is logged without it', async (t) => {
  const secret = generateSecret();
  const { log, text } = capture();
  const quoting = Object.assign(new Error(`Invalid value "Bearer ${secret}" for header "authorization"`), { code: 'ERR_X', input: secret });
  const err = new Error('upstream call failed', { cause: new Error('wrapped', { cause: quoting }) });
  log.error({ request_id: 'r1', err }, 'refused: %s', 'upstream_unavailable');
  log.warn({ err: `plain text ${secret}` }, 'as a string');
  const lines = text().trim().split('\n').map((l) => JSON.parse(l) as { err: { message: string; code?: string; type?: string } | string });
  t.notOk(text().includes(secret.slice(4)), `no secret: ${text()}`);
  const logged = lines[0].err as { message: string; type: string };
  t.match(logged, { type: 'Error', message: /^upstream call failed: wrapped: Invalid value "Bearer gth_\[redacted\]"/ }, 'the message chain is kept');
  t.equal(lines[1].err, 'plain text gth_[redacted]');
  t.ok(err.cause instanceof Error && (err.cause.cause as Error).message.includes(secret), 'the error itself is untouched');
});
