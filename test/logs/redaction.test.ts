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
