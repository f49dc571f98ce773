import net from 'node:net';
import t from 'tap';
import { forwardingHeader, isGatehouseHeader } from '../../gateway/http/forward-headers';
import { hostOf, startGateway, type Teardown } from '../helpers/gateway';
import { get } from '../helpers/http';
import { startUpstream, type SeenRequest, type TestUpstream } from '../helpers/upstream';

/**
 * Mutation fuzzing of the edge: thousands of HTTP/1.1 requests and HTTP/2
 * frame sequences, each a seed-corpus entry with a few random edits, sent on
 * connections of their own. A fixed seed per run (FUZZ_SEED overrides it),
 * a bounded count and a time cap keep it to seconds.
 */
const SEED = Number(process.env.FUZZ_SEED ?? 13_2026);
const H1_CASES = Number(process.env.FUZZ_H1 ?? 1_500);
const H2_CASES = Number(process.env.FUZZ_H2 ?? 800);
const CONCURRENCY = 32;
const TIME_CAP_MS = 15_000;

/** mulberry32: small, fast, and the same sequence for the same seed everywhere. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const EVIL = 'EVIL';

/** Fragments an edit may splice in: the tokens HTTP parsers disagree on. */
const SPICE = [
  '\r\n', '\n', '\r', ':', ' ', '\t', '\0', ',', ';', '0\r\n\r\n', 'Transfer-Encoding: chunked\r\n', 'Content-Length: 5\r\n',
  'Content-Length: -1\r\n', 'Host: x\r\n', 'Upgrade: h2c\r\n', 'Connection: Upgrade\r\n', 'Expect: 100-continue\r\n',
  `X_Forwarded_For: ${EVIL}\r\n`, `X-Gatehouse-Token-Id: ${EVIL}\r\n`, 'HTTP/1.0', 'HTTP/2.0', 'CONNECT', '_', '.', '\u00ff', 'ffffffff\r\n',
];

function mutate(seed: Buffer, rand: () => number, donors: readonly Buffer[]): Buffer {
  let bytes = Buffer.from(seed);
  const edits = 1 + Math.floor(rand() * 4);
  for (let e = 0; e < edits; e++) {
    const at = Math.floor(rand() * (bytes.length + 1));
    switch (Math.floor(rand() * 7)) {
      case 0: // flip a bit
        if (bytes.length > 0) bytes[Math.min(at, bytes.length - 1)] ^= 1 << Math.floor(rand() * 8);
        break;
      case 1: // splice in a fragment
        bytes = Buffer.concat([bytes.subarray(0, at), Buffer.from(SPICE[Math.floor(rand() * SPICE.length)], 'latin1'), bytes.subarray(at)]);
        break;
      case 2: { // delete a run
        const n = 1 + Math.floor(rand() * 8);
        bytes = Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + n)]);
        break;
      }
      case 3: { // repeat a run
        const n = 1 + Math.floor(rand() * 16);
        bytes = Buffer.concat([bytes.subarray(0, at + n), bytes.subarray(at, at + n), bytes.subarray(at + n)]);
        break;
      }
      case 4: // cut short
        bytes = bytes.subarray(0, at);
        break;
      case 5: { // another corpus entry's tail
        const donor = donors[Math.floor(rand() * donors.length)];
        bytes = Buffer.concat([bytes.subarray(0, at), donor.subarray(Math.floor(rand() * donor.length))]);
        break;
      }
      default: // a random byte
        bytes = Buffer.concat([bytes.subarray(0, at), Buffer.from([Math.floor(rand() * 256)]), bytes.subarray(at)]);
    }
  }
  return bytes;
}

/** Literal header fields without indexing, no Huffman (RFC 7541 §6.2.2): enough to write any header block by hand. */
function hpack(headers: [string, string][]): Buffer {
  const int7 = (n: number): number[] => {
    if (n < 127) return [n];
    const out = [127];
    n -= 127;
    while (n >= 128) { out.push((n % 128) + 128); n = Math.floor(n / 128); }
    out.push(n);
    return out;
  };
  const parts: Buffer[] = [];
  for (const [name, value] of headers) {
    parts.push(Buffer.from([0x00, ...int7(name.length)]), Buffer.from(name, 'latin1'), Buffer.from(int7(value.length)), Buffer.from(value, 'latin1'));
  }
  return Buffer.concat(parts);
}

function frame(type: number, flags: number, stream: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(stream, 5);
  return Buffer.concat([head, payload]);
}

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const [DATA, HEADERS, RST, SETTINGS, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION] = [0, 1, 3, 4, 6, 7, 8, 9];
const END_STREAM = 1;
const END_HEADERS = 4;

interface Corpus {
  readonly h1: Buffer[];
  readonly h2: Buffer[];
}

function corpus(secret: string): Corpus {
  const open = hostOf('open');
  const guarded = hostOf('guarded');
  const hidden = hostOf('hidden');
  const spoofs = `X-Forwarded-For: ${EVIL}\r\nX_Forwarded_Host: ${EVIL}\r\nX.Gatehouse.Token.Id: ${EVIL}\r\nX-Real-IP: ${EVIL}\r\n`;
  const h1 = [
    `GET / HTTP/1.1\r\nHost: ${open}\r\n\r\n`,
    `GET /a?b=c HTTP/1.1\r\nHost: ${open}\r\n${spoofs}Connection: close\r\n\r\n`,
    `POST /upload HTTP/1.1\r\nHost: ${open}\r\nContent-Length: 5\r\n\r\nhello`,
    `POST /chunked HTTP/1.1\r\nHost: ${open}\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`,
    `GET / HTTP/1.1\r\nHost: ${guarded}\r\nAuthorization: Bearer ${secret}\r\n${spoofs}\r\n`,
    `POST /p HTTP/1.1\r\nHost: ${guarded}\r\nAuthorization: Bearer ${secret}\r\nContent-Length: 3\r\n\r\nabc`,
    `GET / HTTP/1.1\r\nHost: ${guarded}\r\nAuthorization: Bearer gth_000000000000000000000000000000000000\r\n\r\n`,
    `GET / HTTP/1.1\r\nHost: ${guarded}\r\n\r\n`,
    `GET / HTTP/1.1\r\nHost: ${hidden}\r\n\r\n`,
    `GET http://${open}/absolute HTTP/1.1\r\nHost: ${open}\r\n\r\n`,
    `GET / HTTP/1.1\r\nHost: ${open}\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\nGET /second HTTP/1.1\r\nHost: ${open}\r\n\r\n`,
    `GET /ws HTTP/1.1\r\nHost: ${guarded}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    `CONNECT ${open}:443 HTTP/1.1\r\nHost: ${open}:443\r\n\r\n`,
    `GET / HTTP/1.1\r\nHost: ${open}\r\n\r\nGET / HTTP/1.1\r\nHost: ${guarded}\r\n\r\nGET / HTTP/1.1\r\nHost: ${open}\r\nConnection: close\r\n\r\n`,
    `POST / HTTP/1.1\r\nHost: ${guarded}\r\nContent-Length: 40\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: ${open}\r\n\r\n`,
    `OPTIONS * HTTP/1.1\r\nHost: ${open}\r\n\r\n`,
  ].map((s) => Buffer.from(s, 'latin1'));

  const settings = frame(SETTINGS, 0, 0);
  const request = (stream: number, headers: [string, string][], endStream = true): Buffer =>
    frame(HEADERS, END_HEADERS | (endStream ? END_STREAM : 0), stream, hpack(headers));
  const base = (authority: string, extra: [string, string][] = [], method = 'GET'): [string, string][] =>
    [[':method', method], [':scheme', 'http'], [':path', '/h2'], [':authority', authority], ...extra];
  const h2 = [
    Buffer.concat([PREFACE, settings, request(1, base(open))]),
    Buffer.concat([PREFACE, settings, request(1, base(open, [['x_forwarded_for', EVIL], ['x-gatehouse-token-id', EVIL]]))]),
    Buffer.concat([PREFACE, settings, request(1, base(guarded, [['authorization', `Bearer ${secret}`]]))]),
    Buffer.concat([PREFACE, settings, request(1, base(guarded))]),
    Buffer.concat([PREFACE, settings, request(1, base(hidden))]),
    Buffer.concat([PREFACE, settings, request(1, base(open, [['content-length', '5']], 'POST'), false), frame(DATA, END_STREAM, 1, Buffer.from('hello'))]),
    Buffer.concat([PREFACE, settings, request(1, [[':method', 'CONNECT'], [':authority', `${open}:443`]], false), frame(DATA, 0, 1, Buffer.from('tunnel'))]),
    Buffer.concat([PREFACE, settings, frame(HEADERS, 0, 1, hpack(base(open).slice(0, 2))), frame(CONTINUATION, END_HEADERS | END_STREAM, 1, hpack(base(open).slice(2)))]),
    Buffer.concat([PREFACE, settings, request(1, base(open), false), frame(RST, 0, 1, Buffer.from([0, 0, 0, 8])), request(3, base(open))]),
    Buffer.concat([PREFACE, settings, frame(PING, 0, 0, Buffer.alloc(8)), frame(WINDOW_UPDATE, 0, 0, Buffer.from([0, 0, 1, 0])), request(1, base(open)), frame(GOAWAY, 0, 0, Buffer.alloc(8))]),
    Buffer.concat([PREFACE, settings, request(1, base(open, [['content-type', 'application/grpc']], 'POST'))]),
  ];
  return { h1, h2 };
}

interface Exchange {
  readonly text: string;
  readonly timedOut: boolean;
}

/** Sends `bytes` on a fresh connection; HTTP/1.1 half-closes (the parser then ends the exchange), HTTP/2 waits for quiet. */
function exchange(port: number, bytes: Buffer, h2: boolean): Promise<Exchange> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let text = '';
    let done = false;
    const finish = (timedOut: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(cap);
      clearTimeout(quiet);
      socket.destroy();
      resolve({ text, timedOut });
    };
    const cap = setTimeout(() => finish(!h2), h2 ? 1_500 : 5_000);
    let quiet = setTimeout(() => undefined, 0);
    socket.on('data', (d: Buffer) => {
      text += d.toString('latin1');
      if (!h2) return;
      clearTimeout(quiet);
      quiet = setTimeout(() => finish(false), 300);
    });
    socket.on('error', () => finish(false));
    socket.on('close', () => finish(false));
    socket.write(bytes, () => {
      if (!h2) socket.end();
    });
  });
}

async function runAll(cases: Buffer[], port: number, h2: boolean, deadline: number): Promise<{ results: Exchange[]; skipped: number }> {
  const results: Exchange[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < cases.length && Date.now() < deadline) results.push(await exchange(port, cases[next++], h2));
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return { results, skipped: cases.length - next };
}

/** Header pairs whose name (any spelling) is a forwarding or x-gatehouse header and whose value the client wrote. */
function spoofed(seen: SeenRequest): string[] {
  const out: string[] = [];
  for (let i = 0; i < seen.rawHeaders.length; i += 2) {
    const name = seen.rawHeaders[i].toLowerCase();
    if ((forwardingHeader(name) !== undefined || isGatehouseHeader(name)) && seen.rawHeaders[i + 1].includes(EVIL)) out.push(`${name}: ${seen.rawHeaders[i + 1]}`);
  }
  return out;
}

/** An upstream that records the request ids whose whole request it received. */
async function recordingUpstream(t: Teardown): Promise<{ up: TestUpstream; complete: Set<string> }> {
  const complete = new Set<string>();
  const up = await startUpstream(t, (req, res) => {
    req.resume();
    req.on('end', () => {
      complete.add(String(req.headers['x-request-id']));
      res.writeHead(200, { 'content-type': 'text/plain', 'x-upstream': 'echo' });
      res.end('ok');
    });
  });
  return { up, complete };
}

t.test('mutated HTTP/1.1 and HTTP/2 input: the gateway stays up, makes no 5xx, and lets nothing refused through', async (t) => {
  t.comment(`fuzz seed ${SEED} (set FUZZ_SEED to replay another); ${H1_CASES} HTTP/1.1 and ${H2_CASES} HTTP/2 cases`);
  const open = await recordingUpstream(t);
  const guarded = await recordingUpstream(t);
  const hidden = await recordingUpstream(t);
  const gw = await startGateway(t, {
    deployments: [
      { name: 'open', access: 'public', upstreams: [open.up.url] },
      { name: 'guarded', access: 'protected', upstreams: [guarded.up.url] },
      { name: 'hidden', access: 'private', upstreams: [hidden.up.url] },
    ],
    // Every mutated token is a failed attempt from 127.0.0.1: no limit here, or the valid one would be refused too.
    extra: { failedAuth: { perMinute: 1_000_000 }, timeouts: { requestHeaders: '2s', idle: '2s' } },
  });
  const { secret, token } = await gw.mint({ user: ['guarded'] });
  const seeds = corpus(secret);
  const rand = prng(SEED);
  const h1Cases = Array.from({ length: H1_CASES }, () => mutate(seeds.h1[Math.floor(rand() * seeds.h1.length)], rand, seeds.h1));
  const h2Cases = Array.from({ length: H2_CASES }, () => mutate(seeds.h2[Math.floor(rand() * seeds.h2.length)], rand, seeds.h2));
  // The unmutated corpus first: the fuzzer's own baseline must pass.
  h1Cases.unshift(...seeds.h1);
  h2Cases.unshift(...seeds.h2);

  const started = Date.now();
  const h1 = await runAll(h1Cases, gw.externalPort, false, started + TIME_CAP_MS);
  // Whole requests the upstreams got from the HTTP/1.1 cases (each exchange there ends: the client half-closes).
  const h1Complete = [...open.complete, ...guarded.complete];
  const h2 = await runAll(h2Cases, gw.externalPort, true, started + TIME_CAP_MS * 2);
  t.comment(`ran ${h1.results.length} HTTP/1.1 and ${h2.results.length} HTTP/2 cases in ${Date.now() - started} ms`);
  t.ok(h1.results.length >= Math.min(1_000, H1_CASES) && h2.results.length >= Math.min(500, H2_CASES), 'thousands of cases ran within the time cap');

  // 1. The process is up and serving.
  t.equal((await get(gw.external + '/', { host: hostOf('open') })).status, 200, 'the gateway still serves');

  // 2. No 5xx made by the gateway: the upstreams are healthy, so any 5xx in a log line is the gateway's own.
  const fiveHundreds = gw.logs.filter((l) => typeof l.status === 'number' && l.status >= 500);
  t.same(fiveHundreds.slice(0, 3), [], `no request ended in a 5xx (${fiveHundreds.length})`);
  const h1Statuses = h1.results.flatMap((r) => [...r.text.matchAll(/^HTTP\/1\.[01] (\d{3})/gm)].map((m) => Number(m[1])));
  t.notOk(h1Statuses.some((s) => s >= 500), 'and no HTTP/1.1 client saw one');
  t.notOk(gw.logs.some((l) => l.level === 50 || l.level === 60), 'nothing was logged as an error');

  // 3. Nothing that should be refused reached an upstream.
  t.equal(hidden.up.requests.length, 0, 'the private Deployment got nothing from the external listener');
  const unauthorised = guarded.up.requests.filter((r) => r.headers['x-gatehouse-token-id'] !== token.id);
  t.same(unauthorised.map((r) => r.url).slice(0, 3), [], 'the protected Deployment got only requests with the valid token');
  const all = [...open.up.requests, ...guarded.up.requests];
  t.notOk(all.some((r) => r.method === 'CONNECT'), 'no CONNECT reached an upstream');
  t.same(all.flatMap(spoofed).slice(0, 3), [], 'no client-written forwarding or x-gatehouse header reached an upstream');

  // 4. Never both: every whole request an upstream got from an HTTP/1.1 case was answered to its client.
  const timedOut = h1.results.filter((r) => r.timedOut).length;
  const answered = new Set(h1.results.flatMap((r) => [...r.text.matchAll(/\r\nx-request-id: ([^\r]+)/gi)].map((m) => m[1])));
  // The client half-closes after writing, and Node's server takes that for a client gone: those are aborted, not refused.
  const reasons = new Map(gw.logs.map((l) => [String(l.request_id), String(l.reason)]));
  const unanswered = h1Complete.filter((id) => !answered.has(id) && reasons.get(id) !== 'client_aborted');
  t.ok(unanswered.length <= timedOut, `forwarded but not answered: ${unanswered.length} (exchanges cut by the test's own wait: ${timedOut})`);
});
