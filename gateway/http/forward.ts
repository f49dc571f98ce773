import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { GatehouseError } from '../errors';
import type { UpstreamSet } from '../routing/upstream-set';
import { downstreamHeaders } from './forward-headers';
import { isConnectFailure, upstreamError } from './upstream-errors';

/** Where the upstream's answer goes: an HTTP/1 response or an HTTP/2 stream. */
export interface ResponseSink {
  readonly headersSent: boolean;
  head(status: number, headers: IncomingHttpHeaders): void;
  /** False when the client is not keeping up: wait for `onceDrain`. */
  write(chunk: Buffer): boolean;
  onceDrain(resume: () => void): void;
  end(trailers: IncomingHttpHeaders): void;
  /** Answers with a refusal; only before `head`. */
  refuse(err: GatehouseError): void;
  /** Cuts a response already under way, so the client sees it incomplete rather than short. */
  cut(): void;
  /** Calls back once if the client goes away before the response ends. */
  onClientGone(callback: () => void): void;
}

export interface ForwardRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: string[];
  /** null for a request with no body: such a request may be retried on another upstream. */
  readonly body: Readable | null;
  readonly upstreams: UpstreamSet;
  readonly sink: ResponseSink;
  /** Called once, when the exchange is over: the status the client got (0 if none), an outcome id, and the response body bytes sent. */
  readonly done: (status: number, outcome: ForwardOutcome, bytesOut: number) => void;
}

export type ForwardOutcome = 'ok' | 'upstream_unavailable' | 'upstream_timeout' | 'client_aborted' | 'upstream_aborted';

const CLIENT_GONE = Object.assign(new Error('client went away'), { code: 'GATEHOUSE_CLIENT_GONE' });

/** Forwards one request upstream with undici, streaming both ways with backpressure. */
export function forward(req: ForwardRequest): void {
  new Forwarding(req).start();
}

class Forwarding implements Dispatcher.DispatchHandler {
  private controller: Dispatcher.DispatchController | undefined;
  private index = 0;
  private attempts = 0;
  private status = 0;
  private finished = false;
  private clientGone = false;
  private bytesOut = 0;

  constructor(private readonly req: ForwardRequest) {}

  start(): void {
    this.req.sink.onClientGone(() => {
      this.clientGone = true;
      // Abort at once so the upstream sees the cancellation, not a request left running.
      this.controller?.abort(CLIENT_GONE);
      this.finish('client_aborted');
    });
    this.dispatch();
  }

  private dispatch(): void {
    const { upstreams } = this.req;
    this.index = upstreams.pick();
    this.attempts++;
    upstreams.pool(this.index).dispatch(
      { path: this.req.path, method: this.req.method, headers: this.req.headers, body: this.req.body },
      this,
    );
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.clientGone) controller.abort(CLIENT_GONE);
  }

  onResponseStart(_controller: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders): void {
    if (statusCode < 200 || this.clientGone) return;
    this.req.upstreams.markUp(this.index);
    this.status = statusCode;
    this.req.sink.head(statusCode, downstreamHeaders(headers));
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.clientGone) return;
    this.bytesOut += chunk.length;
    if (!this.req.sink.write(chunk)) {
      controller.pause();
      this.req.sink.onceDrain(() => controller.resume());
    }
  }

  onResponseEnd(_controller: Dispatcher.DispatchController, trailers: IncomingHttpHeaders): void {
    if (this.clientGone) return;
    this.req.sink.end(trailers);
    this.finish('ok');
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    if (this.clientGone || this.finished) return;
    const { sink, upstreams } = this.req;
    if (!sink.headersSent && isConnectFailure(err)) {
      upstreams.markDown(this.index);
      if (this.req.body === null && this.attempts < upstreams.size) {
        this.dispatch();
        return;
      }
    }
    if (sink.headersSent) {
      sink.cut();
      this.finish('upstream_aborted');
      return;
    }
    const refusal = upstreamError(err);
    this.status = refusal.httpStatus;
    sink.refuse(refusal);
    this.finish(refusal.code === 'upstream_timeout' ? 'upstream_timeout' : 'upstream_unavailable');
  }

  private finish(outcome: ForwardOutcome): void {
    if (this.finished) return;
    this.finished = true;
    this.req.done(this.status, outcome, this.bytesOut);
  }
}
