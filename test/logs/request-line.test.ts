import { Writable } from 'node:stream';
import t from 'tap';
import { generateSecret } from '../../gateway/auth/token-format';
import { createLogger, isoTimeCached, LineBatch, PIPE_BUF, type Logger, type RequestLogLine } from '../../gateway/log';
import { writePendingRequestLines, writeRequestLine } from '../../gateway/request-log';

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
      writePendingRequestLines();
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
  writePendingRequestLines();
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
  writePendingRequestLines();
  t.equal(lines.length, 0, 'info is not written at warn');
  writeRequestLine(log, SPARSE, 'warn');
  writePendingRequestLines();
  t.equal(lines.length, 1, 'warn is');
  t.equal((JSON.parse(lines[0]) as { level: number }).level, 40);
  log.level = 'info';
  writeRequestLine(log, SPARSE, 'info');
  writePendingRequestLines();
  t.equal((JSON.parse(lines[1]) as { level: number }).level, 30, 'info is, once the level is lowered (a reload)');
  log.level = 'silent';
  writeRequestLine(log, SPARSE, 'warn');
  writePendingRequestLines();
  t.equal(lines.length, 2, 'nothing at silent');
});

t.test('the time is what toISOString says, across milliseconds, seconds, and a clock stepped back', async (t) => {
  const times = [0, 7, 99, 999, 1000, 1001, 1_700_000_000_009, 1_700_000_000_010, 1_700_000_000_100, 1_700_000_000_999, 1_700_000_001_000, 1_700_000_000_500, 1_700_000_000_500];
  for (const now of times) t.equal(isoTimeCached(now), `,"time":"${new Date(now).toISOString()}"`, `at ${now}`);
});

t.test('the lines of a turn are written at its end, in order, each with the time it was recorded', async (t) => {
  const { log, lines } = capture();
  const recordedAt: number[] = [];
  for (let i = 0; i < 3; i++) {
    recordedAt.push(Date.now());
    writeRequestLine(log, { ...SPARSE, request_id: `req-${i}` }, 'info');
    await new Promise((r) => setTimeout(r, 5));
  }
  // Three turns, so three lines written by now; a fourth is held until the end of this one.
  writeRequestLine(log, { ...SPARSE, request_id: 'req-3' }, 'info');
  t.equal(lines.length, 3, 'the line of this turn is not written yet');
  await new Promise((r) => setImmediate(r));
  const parsed = lines.map((l) => JSON.parse(l) as { request_id: string; time: string });
  t.same(parsed.map((p) => p.request_id), ['req-0', 'req-1', 'req-2', 'req-3'], 'in the order recorded');
  for (let i = 0; i < 3; i++) t.equal(parsed[i].time, new Date(recordedAt[i]).toISOString(), `line ${i}: the time it was recorded`);
});

t.test('a flush of stdout writes the held lines first, also when they fill batches themselves', async (t) => {
  const writes: string[] = [];
  const batch = new LineBatch({ write: (b: Buffer) => void writes.push(b.toString()), flushSync: () => undefined });
  const log = createLogger('info', batch);
  const n = Math.ceil((3 * PIPE_BUF) / 200);
  for (let i = 0; i < n; i++) writeRequestLine(log, { ...SPARSE, request_id: `held-${i}` }, 'info');
  log.warn('after the requests');
  // A batch filled by the held lines flushes while they are being written, which must not write them twice.
  batch.flush();
  const out = writes.join('').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { request_id?: string; msg: string });
  t.same(out.map((l) => l.request_id ?? l.msg), [...Array.from({ length: n }, (_, i) => `held-${i}`), 'after the requests'],
    'every held line once, before the line written after them');
  t.ok(writes.length >= 3, `in several batches (${writes.length})`);
  t.ok(writes.every((w) => Buffer.byteLength(w) <= PIPE_BUF), 'none over PIPE_BUF');
});
