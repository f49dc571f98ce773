/**
 * The soak run's clients: one function per kind of request, each returning
 * what happened and whether that was expected, expected only because of a
 * fault in progress, or unexpected.
 */
import * as grpc from '@grpc/grpc-js';
import http2 from 'node:http2';
import net from 'node:net';
import { Agent, request } from 'undici';
import { WebSocket } from 'ws';
import { SOAK_STREAM, SOAK_UNARY, SSE_EVENTS, STREAM_MESSAGES } from './soak-upstream';

export type Verdict = 'expected' | 'fault' | 'unexpected';

export interface Outcome {
  readonly scenario: string;
  /** What the client saw: a status, `grpc OK`, `cut`, `error ECONNRESET`… */
  readonly result: string;
  readonly verdict: Verdict;
}

export type FaultKind = 'redis' | 'upstream';

/** What the clients need to know about the run: where to go, which tokens, and which faults were under way when. */
export interface SoakState {
  readonly port: number;
  readonly host: (deployment: string) => string;
  readonly validToken: string;
  /** A token that is revoked in the middle of its use (see soak.ts); `revokedAt` once its DELETE was answered. */
  revocable: { readonly secret: string; revokingSince?: number; revokedAt?: number } | undefined;
  /** The store-managed Deployment whose access type flips; `changedAt` once the change was answered. */
  flip: { access: 'public' | 'protected'; changingSince: number; changedAt: number };
  /** True when a fault of one of these kinds overlapped [from, to] (with its recovery grace). */
  faultDuring(kinds: readonly FaultKind[], from: number, to: number): boolean;
}

/** The address the "attacker" scenarios come from, so their failed attempts never limit the valid traffic. */
const ATTACKER = '127.0.0.5';
const agents = { valid: new Agent({ connections: 32 }), attacker: new Agent({ connections: 8, localAddress: ATTACKER }) };
const UNKNOWN_TOKEN = 'gth_000000000000000000000000000000000000';

/**
 * The hook for rate-limited tokens: today the failed-attempt limiter's 429s
 * (SPEC §2). Per-token limits (SPEC §6 `limits`) add their own scenario here.
 */
export const RATE_LIMITED_STATUSES: readonly string[] = ['401', '429'];

function judge(state: SoakState, scenario: string, result: string, expected: readonly string[], faults: readonly FaultKind[], started: number): Outcome {
  if (expected.includes(result)) return { scenario, result, verdict: 'expected' };
  return { scenario, result, verdict: state.faultDuring(faults, started, Date.now()) ? 'fault' : 'unexpected' };
}

function errorResult(err: unknown): string {
  const code = (err as { code?: unknown }).code;
  return `error ${typeof code === 'string' ? code : (err as Error).message ?? String(err)}`;
}

/**
 * Each revocable token is used from an address of its own (127.0.1.N): its 401s after the revocation are failed
 * attempts, and the limiter must not count them against the other traffic, nor against the next token.
 */
let revokerAgent: { secret: string; agent: Agent } | undefined;
let revokers = 0;

function agentFor(secret: string): Agent {
  if (revokerAgent?.secret !== secret) {
    void revokerAgent?.agent.close();
    revokers++;
    revokerAgent = { secret, agent: new Agent({ connections: 8, localAddress: `127.0.${1 + (revokers >> 8)}.${revokers & 255}` }) };
  }
  return revokerAgent.agent;
}

async function h1(state: SoakState, deployment: string, path: string, token: string | undefined, from: 'valid' | 'attacker' | Agent = 'valid'): Promise<string> {
  const headers: Record<string, string> = { host: state.host(deployment) };
  if (token !== undefined) headers.authorization = `Bearer ${token}`;
  const dispatcher = from === 'valid' ? agents.valid : from === 'attacker' ? agents.attacker : from;
  try {
    const res = await request(`http://127.0.0.1:${state.port}${path}`, { headers, dispatcher });
    const text = await res.body.text();
    if (res.statusCode === 200 && path === '/sse') return text.split('\n\n').filter((e) => e.startsWith('data: ')).length === SSE_EVENTS ? '200' : 'cut';
    if (res.statusCode === 200 && text !== 'ok') return 'cut';
    return String(res.statusCode);
  } catch (err) {
    return errorResult(err);
  }
}

export const scenarios: Record<string, (state: SoakState) => Promise<Outcome>> = {
  'h1 public': async (s) => { const t = Date.now(); return judge(s, 'h1 public', await h1(s, 'open', '/', undefined), ['200'], ['upstream'], t); },
  'h1 protected valid': async (s) => { const t = Date.now(); return judge(s, 'h1 protected valid', await h1(s, 'guarded', '/', s.validToken), ['200'], ['upstream', 'redis'], t); },
  'h1 protected unknown token': async (s) => {
    const t = Date.now();
    return judge(s, 'h1 protected unknown token', await h1(s, 'guarded', '/', UNKNOWN_TOKEN, 'attacker'), RATE_LIMITED_STATUSES, ['redis'], t);
  },
  'h1 protected malformed token': async (s) => {
    const t = Date.now();
    return judge(s, 'h1 protected malformed token', await h1(s, 'guarded', '/', 'not-a-token', 'attacker'), RATE_LIMITED_STATUSES, [], t);
  },
  'h1 protected no token': async (s) => { const t = Date.now(); return judge(s, 'h1 protected no token', await h1(s, 'guarded', '/', undefined), ['401'], [], t); },
  'h1 private': async (s) => { const t = Date.now(); return judge(s, 'h1 private', await h1(s, 'hidden', '/', undefined), ['404'], [], t); },
  'sse public': async (s) => { const t = Date.now(); return judge(s, 'sse public', await h1(s, 'open', '/sse', undefined), ['200'], ['upstream'], t); },
  'h1 revocable token': async (s) => {
    const token = s.revocable;
    if (token === undefined) return { scenario: 'h1 revocable token', result: 'none live (skipped)', verdict: 'expected' };
    const t = Date.now();
    const result = await h1(s, 'guarded', '/', token.secret, agentFor(token.secret));
    // Accepted: before the revocation, or within a second of it. Refused: once it was asked for.
    const accept = token.revokedAt === undefined || t <= token.revokedAt + 1_000;
    const refuse = token.revokingSince !== undefined;
    const expected = [...(accept ? ['200'] : []), ...(refuse ? ['401'] : [])];
    return judge(s, `h1 revocable token (${refuse ? 'revoked' : 'live'})`, result, expected, ['upstream', 'redis'], t);
  },
  'h1 access flip': async (s) => {
    const t = Date.now();
    const result = await h1(s, 'flip', '/', undefined);
    const settled = s.flip.changedAt !== 0 && t > s.flip.changedAt + 1_000 && s.flip.changingSince <= s.flip.changedAt;
    const expected = settled ? [s.flip.access === 'public' ? '200' : '401'] : ['200', '401'];
    return judge(s, `h1 access flip (${s.flip.access})`, result, expected, ['upstream', 'redis'], t);
  },
  'h2 public': async (s) => { const t = Date.now(); return judge(s, 'h2 public', await h2(s, 'open', undefined), ['200'], ['upstream'], t); },
  'h2 protected valid': async (s) => { const t = Date.now(); return judge(s, 'h2 protected valid', await h2(s, 'guarded', s.validToken), ['200'], ['upstream', 'redis'], t); },
  'grpc unary': async (s) => { const t = Date.now(); return judge(s, 'grpc unary', await grpcCall(s, false), ['grpc OK'], ['upstream'], t); },
  'grpc server stream': async (s) => { const t = Date.now(); return judge(s, 'grpc server stream', await grpcCall(s, true), ['grpc OK'], ['upstream'], t); },
  'websocket echo': async (s) => { const t = Date.now(); return judge(s, 'websocket echo', await websocket(s), ['echoed'], ['upstream'], t); },
};

let session: http2.ClientHttp2Session | undefined;

function h2(state: SoakState, deployment: string, token: string | undefined): Promise<string> {
  if (session === undefined || session.closed || session.destroyed) {
    session = http2.connect(`http://127.0.0.1:${state.port}`);
    session.on('error', () => undefined);
  }
  const headers: http2.OutgoingHttpHeaders = { ':path': '/', ':authority': state.host(deployment) };
  if (token !== undefined) headers.authorization = `Bearer ${token}`;
  return new Promise((resolve) => {
    const stream = (session as http2.ClientHttp2Session).request(headers);
    let status = 0;
    let body = '';
    stream.setEncoding('utf8');
    stream.on('response', (h) => { status = Number(h[':status']); });
    stream.on('data', (d: string) => { body += d; });
    stream.on('end', () => resolve(status === 200 && body !== 'ok' ? 'cut' : String(status)));
    stream.on('error', (err) => resolve(errorResult(err)));
  });
}

let grpcClient: grpc.Client | undefined;
const identity = (b: Buffer): Buffer => b;

function grpcCall(state: SoakState, streaming: boolean): Promise<string> {
  grpcClient ??= new grpc.Client(`127.0.0.1:${state.port}`, grpc.credentials.createInsecure(), { 'grpc.default_authority': state.host('rpc') });
  const deadline = Date.now() + 10_000;
  return new Promise((resolve) => {
    if (!streaming) {
      grpcClient?.makeUnaryRequest(SOAK_UNARY, identity, identity, Buffer.from('ping'), new grpc.Metadata(), { deadline }, (err, reply) => {
        resolve(err ? `grpc ${grpc.status[err.code]}` : reply?.toString() === 'ping' ? 'grpc OK' : 'cut');
      });
      return;
    }
    const call = grpcClient?.makeServerStreamRequest(SOAK_STREAM, identity, identity, Buffer.alloc(0), new grpc.Metadata(), { deadline });
    let messages = 0;
    call?.on('data', () => { messages++; });
    call?.on('error', (err: grpc.ServiceError) => resolve(`grpc ${grpc.status[err.code]}`));
    call?.on('status', (status: grpc.StatusObject) => {
      if (status.code === grpc.status.OK) resolve(messages === STREAM_MESSAGES ? 'grpc OK' : 'cut');
    });
  });
}

function websocket(state: SoakState): Promise<string> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${state.port}/ws`, { headers: { host: state.host('open') }, handshakeTimeout: 10_000 });
    let result = 'closed before the echo';
    ws.on('open', () => ws.send('ping'));
    ws.on('message', (data) => {
      result = String(data) === 'ping' ? 'echoed' : 'cut';
      ws.close();
    });
    ws.on('unexpected-response', (_req, res) => {
      result = String(res.statusCode);
      ws.terminate();
    });
    ws.on('error', (err) => { result = errorResult(err); });
    ws.on('close', () => resolve(result));
  });
}

/** A client that sends half its request headers and stops: the gateway must answer 408 within requestHeaders (+ its check interval). */
export function slowClient(state: SoakState, requestHeadersMs: number): Promise<Outcome> {
  const started = Date.now();
  return new Promise((resolve) => {
    const socket = net.connect(state.port, '127.0.0.1', () => socket.write(`GET / HTTP/1.1\r\nHost: ${state.host('open')}\r\nX-Slow: `));
    let text = '';
    const limit = setTimeout(() => socket.destroy(), requestHeadersMs + 5_000);
    socket.on('data', (d: Buffer) => { text += d.toString('latin1'); });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(limit);
      const status = /^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 'no answer';
      const inTime = Date.now() - started <= requestHeadersMs + 3_000;
      resolve({ scenario: 'slow client (trickled headers)', result: inTime ? status : `${status} late`, verdict: inTime && status === '408' ? 'expected' : 'unexpected' });
    });
  });
}

/** The malformed burst: HTTP/1.1 that Node's parser must refuse, and HTTP/2 frames that break the protocol. */
export function malformed(state: SoakState, n: number): Promise<Outcome> {
  const h1Bad = [
    `GET / HTTP/1.1\r\nHost: ${state.host('open')}\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n`,
    `GET / HTTP/1.1\r\nHost: ${state.host('open')}\r\nX: ${'a'.repeat(20_000)}\r\n\r\n`,
    'GET /\0 HTTP/1.1\r\n\r\n',
    `POST / HTTP/1.1\r\nHost: ${state.host('open')}\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n`,
  ];
  const h2Bad = [
    Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), Buffer.from([0, 0, 4, 1, 5, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff])]),
    Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), Buffer.from([0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0])]),
  ];
  const one = (i: number): Promise<string> => new Promise((resolve) => {
    const h2Case = i % 3 === 2;
    const bytes = h2Case ? h2Bad[i % h2Bad.length] : Buffer.from(h1Bad[i % h1Bad.length], 'latin1');
    const socket = net.connect(state.port, '127.0.0.1', () => socket.end(bytes));
    let text = '';
    const limit = setTimeout(() => socket.destroy(), 5_000);
    socket.on('data', (d: Buffer) => { text += d.toString('latin1'); });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(limit);
      resolve(h2Case ? 'closed' : /^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 'closed');
    });
  });
  return Promise.all(Array.from({ length: n }, (_, i) => one(i))).then((results) => {
    const bad = results.filter((r) => r.startsWith('5'));
    return { scenario: `malformed burst (${n} connections)`, result: bad.length === 0 ? 'all refused' : `${bad.length} answered 5xx`, verdict: bad.length === 0 ? 'expected' : 'unexpected' };
  });
}

export async function closeClients(): Promise<void> {
  session?.close();
  grpcClient?.close();
  await Promise.all([agents.valid.close(), agents.attacker.close(), revokerAgent?.agent.close()]);
}
