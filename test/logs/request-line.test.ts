import { Writable } from 'node:stream';
import t from 'tap';
import { generateSecret } from '../../gateway/auth/token-format';
import { createLogger, isoTimeCached, type Logger, type RequestLogLine } from '../../gateway/log';
import { writeRequestLine } from '../../gateway/request-log';

/** A logger writing into a list of lines, as the process logger writes to stdout. */
function capture(level = 'info'): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(...chunk.toString().split('\n').filter(Boolean));
      done();
    },
  });
  return { log: createLogger(level, sink), lines };
}

/** Every field a request line can have: a field added to RequestLogLine must be added here, and written. */
const FULL: Required<RequestLogLine> = {
  request_id: 'req-1', listener: 'external', protocol: 'grpc', method: 'POST', path: '/pkg.Svc/Call',
  deployment: 'model', reason: 'token', status: 200, grpc_method: '/pkg.Svc/Call', grpc_status: 14,
  error: 'ECONNRESET: socket hang up', duration_ms: 12.345, token_id: 'tok_abc', client: '::ffff:10.0.0.1',
  bytes_in: 128, bytes_out: 0,
};
const SPARSE: RequestLogLine = {
  request_id: 'req-2', listener: 'internal', protocol: 'http', method: 'GET', path: '/',
  deployment: undefined, reason: 'not_found', status: 404, duration_ms: 0.5, token_id: undefined, client: '127.0.0.1',
};

/** A parsed line without its time, which may differ by a millisecond between two writes. */
function fields(text: string): Record<string, unknown> {
  const { time, ...rest } = JSON.parse(text) as Record<string, unknown>;
  t.match(time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, 'an ISO time');
  return rest;
}

t.test('the request line is the JSON the logger itself writes for it, bindings included', async (t) => {
  for (const line of [FULL, SPARSE]) {
    for (const level of ['info', 'warn'] as const) {
      const { log, lines } = capture();
      const worker = log.child({ worker: 2 });
      worker[level](line, 'request');
      writeRequestLine(worker, line, level);
      t.equal(lines.length, 2);
      t.same(fields(lines[1]), fields(lines[0]), `${line.request_id} at ${level}: same fields and values`);
      t.match(JSON.parse(lines[1]), { worker: 2, service: 'gatehouse', msg: 'request' });
    }
  }
});

t.test('client-chosen text is escaped, and a secret in it is censored', async (t) => {
  const secret = generateSecret();
  const { log, lines } = capture();
  const line: RequestLogLine = {
    ...SPARSE,
    method: 'G"ET',
    path: `/a\\b"c\u0001\u2028é😀?access_token=${secret}&x=${secret.slice(0, 20)}`,
    error: `upstream said "${secret}"`,
    grpc_method: `/x/${secret}`,
  };
  writeRequestLine(log, line, 'info');
  log.info(line, 'request');
  t.notOk(lines.join('\n').includes(secret.slice(4)), 'no secret in either line');
  t.same(fields(lines[0]), fields(lines[1]), 'escaped and censored as the logger does');
  const parsed = JSON.parse(lines[0]) as Record<string, string>;
  t.equal(parsed.method, 'G"ET');
  t.equal(parsed.path, `/a\\b"c\u0001\u2028é😀?access_token=gth_[redacted]&x=gth_[redacted]`);
});

t.test('the line obeys the logger level, as it changes', async (t) => {
  const { log, lines } = capture('warn');
  writeRequestLine(log, SPARSE, 'info');
  t.equal(lines.length, 0, 'info is not written at warn');
  writeRequestLine(log, SPARSE, 'warn');
  t.equal(lines.length, 1, 'warn is');
  t.equal((JSON.parse(lines[0]) as { level: number }).level, 40);
  log.level = 'info';
  writeRequestLine(log, SPARSE, 'info');
  t.equal((JSON.parse(lines[1]) as { level: number }).level, 30, 'info is, once the level is lowered (a reload)');
  log.level = 'silent';
  writeRequestLine(log, SPARSE, 'warn');
  t.equal(lines.length, 2, 'nothing at silent');
});

t.test('the time is what toISOString says, across milliseconds, seconds, and a clock stepped back', async (t) => {
  const times = [0, 7, 99, 999, 1000, 1001, 1_700_000_000_009, 1_700_000_000_010, 1_700_000_000_100, 1_700_000_000_999, 1_700_000_001_000, 1_700_000_000_500, 1_700_000_000_500];
  for (const now of times) t.equal(isoTimeCached(now), `,"time":"${new Date(now).toISOString()}"`, `at ${now}`);
});
