import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { Allowed, whenDecided, type Decision } from '../auth/decide';
import { GatehouseError, REFUSALS } from '../errors';
import type { RequestLogLine } from '../log';
import type { Runtime } from '../runtime';
import { endStalledBody } from './body-stall';
import { clientAddress } from './client-address';
import { CountedBody } from './counted-body';
import { forward, type ResponseSink } from './forward';
import { downstreamHeaders, forwardContext, hasFields, upstreamHeaders } from './forward-headers';
import { addRateLimitFields, refusalResponse } from './refusal';
import { releaseOnClose } from '../limits/release-on-close';
import type { RateLimitFields } from '../limits/ratelimit-fields';
import { requestIdFrom } from './request-id';
import type { UpstreamSet } from '../routing/upstream-set';

type DataListener = 'external' | 'internal';

/** The HTTP/1.1 face of the pipeline: route → decide → forward, answered with status + JSON. */
export function http1Handler(runtime: Runtime, listener: DataListener) {
  return function onRequest(req: IncomingMessage, res: ServerResponse): void {
    const startedAt = performance.now();
    const requestId = requestIdFrom(req.headers['x-request-id']);
    const route = runtime.routes.lookup(req.headers.host);
    const line: RequestLogLine = {
      request_id: requestId, listener, protocol: 'http', method: req.method ?? 'GET', path: req.url ?? '/',
      deployment: route?.name, reason: 'pending', status: 0, duration_ms: 0, token_id: undefined, client: req.socket.remoteAddress ?? '',
      // Present from the start, so setting them later does not change the object's shape.
      bytes_in: undefined, bytes_out: undefined,
    };
    const sink = new Http1Sink(res, requestId, runtime);
    if (hasBody(req)) endStalledBody(req, route?.timeouts.idle ?? runtime.config.timeouts.idle);
    if (runtime.draining) {
      sink.refuse(REFUSALS.shuttingDown);
      return finish(runtime, line, sink, 'shutting_down', startedAt);
    }
    const decision = runtime.decider.decide({
      listener, route, protocol: 'http', authorization: req.headers.authorization,
      clientAddress: clientAddress(line.client, req.headers['x-forwarded-for'], runtime.isTrustedProxy),
      connection: req.socket,
    });
    // Most decisions are known at once (no store read): no closure for them.
    if (decision instanceof Promise) whenDecided(decision, (d) => proceed(runtime, req, res, sink, line, d, startedAt));
    else proceed(runtime, req, res, sink, line, decision, startedAt);
  };
}

function proceed(runtime: Runtime, req: IncomingMessage, res: ServerResponse, sink: Http1Sink, line: RequestLogLine, decision: Decision, startedAt: number): void {
  if (!(decision instanceof Allowed)) {
    line.token_id = decision.tokenId;
    sink.refuse(decision);
    if (decision.cause !== undefined) runtime.log.error({ request_id: line.request_id, err: decision.cause }, 'refused: %s', decision.code);
    return finish(runtime, line, sink, decision.code, startedAt);
  }
  releaseOnClose(res, decision.limit);
  sink.rateLimit = decision.limit?.fields;
  if (res.destroyed) return finish(runtime, line, sink, 'client_aborted', startedAt);
  // The Deployment may have been deleted while the decision waited on the store.
  const route = runtime.routes.get(line.deployment as string);
  if (route === undefined) return proceed(runtime, req, res, sink, line, REFUSALS.notFound, startedAt);
  const path = originForm(line.path);
  if (path.charCodeAt(0) !== 0x2f /* / */) return proceed(runtime, req, res, sink, line, REFUSALS.notAPath, startedAt);
  line.reason = decision.reason;
  line.token_id = decision.token?.id;
  const secure = (req.socket as Partial<TLSSocket>).encrypted === true;
  const headers = upstreamHeaders(req.headers, req.rawHeaders,
    forwardContext(line, runtime.isTrustedProxy(line.client), secure, req.headers.host ?? '', route.spec.forwardAuthorization));
  // The listener leaves 100 Continue to us: only an allowed request is invited to send its body.
  if (req.headers.expect !== undefined && EXPECT_CONTINUE.test(req.headers.expect)) res.writeContinue();
  const body = bodyOf(req);
  // A parse error in the rest of the current read surfaces synchronously after this handler returns.
  if (body === null) start(runtime, req, sink, line, startedAt, path, headers, body, route.upstreams);
  else process.nextTick(start, runtime, req, sink, line, startedAt, path, headers, body, route.upstreams);
}

function start(
  runtime: Runtime, req: IncomingMessage, sink: Http1Sink, line: RequestLogLine, startedAt: number,
  path: string, headers: string[], body: CountedBody | null, upstreams: UpstreamSet,
): void {
  // Node's parser may reject the body (a bad chunk) in the same read that delivered the head; it has then
  // answered 400 and ended the socket, and the request must not reach the upstream at all.
  if (req.socket.writableEnded) {
    body?.destroy();
    line.reason = 'bad_request';
    line.status = 400;
    return runtime.record(line, startedAt);
  }
  runtime.inflight++;
  forward({
    method: line.method,
    path,
    headers,
    body,
    upstreams,
    sink,
    done: (status, outcome, bytesOut) => {
      runtime.inflight--;
      if (outcome !== 'ok') line.reason = outcome;
      line.status = status;
      line.bytes_in = body === null ? 0 : body.bytes;
      line.bytes_out = bytesOut;
      runtime.record(line, startedAt);
    },
  });
}

function finish(runtime: Runtime, line: RequestLogLine, sink: Http1Sink, reason: string, startedAt: number): void {
  line.reason = reason;
  line.status = sink.status;
  runtime.record(line, startedAt);
}

/** Node's own test for the requests it hands to 'checkContinue'. */
const EXPECT_CONTINUE = /(?:^|\W)100-continue(?:$|\W)/i;

/**
 * The upstream gets the origin-form of an absolute-form target (`GET http://host/p`, RFC 9112 §3.2.2):
 * the route came from Host, and an upstream that took its host from the target (Go's net/http does)
 * would see one the client chose and the gateway never checked.
 */
function originForm(target: string): string {
  if (target.charCodeAt(0) === 0x2f /* / */) return target;
  const authority = /^https?:\/\/[^/?#]*/i.exec(target);
  if (authority === null) return target;
  const rest = target.slice(authority[0].length);
  return rest.charCodeAt(0) === 0x2f ? rest : `/${rest}`;
}

/**
 * undici destroys a stream body when it is done with it; destroying the
 * IncomingMessage would take the client's socket (and our reply) with it,
 * so the body goes through a PassThrough that undici may destroy freely.
 */
function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

function bodyOf(req: IncomingMessage): CountedBody | null {
  if (!hasBody(req)) return null;
  const body = new CountedBody({ highWaterMark: 64 * 1024 });
  req.pipe(body);
  return body;
}

class Http1Sink implements ResponseSink {
  status = 0;
  /** An allowed request under a limit: its answer carries the fields. */
  rateLimit: RateLimitFields | undefined;
  constructor(private readonly res: ServerResponse, private readonly requestId: string, private readonly runtime: Runtime) {}

  get headersSent(): boolean {
    return this.res.headersSent;
  }

  head(status: number, headers: IncomingHttpHeaders): void {
    this.status = status;
    headers['x-request-id'] = this.requestId;
    // Node throws on a Trailer header in a response it will not send chunked (HEAD, 204, HTTP/1.0,
    // a Content-Length): the trailers themselves go out whenever the framing allows (see end).
    if (headers.trailer !== undefined) delete headers.trailer;
    if (this.rateLimit !== undefined) addRateLimitFields(headers, this.rateLimit);
    this.res.writeHead(status, headers);
  }

  write(chunk: Buffer): boolean {
    return this.res.write(chunk);
  }

  onceDrain(resume: () => void): void {
    this.res.once('drain', resume);
  }

  end(trailers: IncomingHttpHeaders): void {
    // Node sends them after the last chunk, and silently drops them when the response is not chunked.
    if (hasFields(trailers)) this.res.addTrailers(trailersOf(trailers));
    this.res.end();
  }

  refuse(err: GatehouseError): void {
    const { status, headers, body } = refusalResponse(err, this.requestId, this.runtime.challenges);
    this.status = status;
    if (this.res.headersSent || this.res.destroyed) return;
    this.res.writeHead(status, headers);
    this.res.end(body);
  }

  cut(): void {
    this.res.destroy();
  }

  onClientGone(callback: () => void): void {
    // `on`, not `once`: a response closes once, and `once` would wrap (bind) the listener for every request.
    this.res.on('close', () => {
      if (!this.res.writableFinished) callback();
    });
  }
}

/** An upstream's trailers as Node's addTrailers takes them: hop-by-hop fields dropped, lists kept. */
function trailersOf(trailers: IncomingHttpHeaders): [string, string][] {
  const out: [string, string][] = [];
  for (const [name, value] of Object.entries(downstreamHeaders(trailers))) {
    if (value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) out.push([name, v]);
  }
  return out;
}
