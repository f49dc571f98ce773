import pino, { type Logger } from 'pino';

/**
 * Where a credential can sit in a logged object: headers as Node gives them
 * (lower case) or as a caller spelled them, at the top or one level down
 * (`req`, `request`, `upstream`…), and secrets by name.
 */
const REDACTED_PATHS = [
  'authorization', 'Authorization', 'headers.authorization', 'headers.Authorization',
  '*.headers.authorization', '*.headers.Authorization',
  'secret', '*.secret', 'api_token', '*.api_token', 'hash', 'token.hash',
];

let stampedAt = -1;
let stamp = '';

/** pino's isoTime, formatted once per millisecond: under load many lines share one. */
function isoTimeCached(): string {
  const now = Date.now();
  if (now !== stampedAt) {
    stampedAt = now;
    stamp = `,"time":"${new Date(now).toISOString()}"`;
  }
  return stamp;
}

/**
 * stdout, written from a buffer of at least 4 KiB or every 100 ms, whichever
 * comes first: one write per line (each a trip through libuv's thread pool)
 * cost more than the rest of a proxied request. pino flushes it on exit.
 */
function stdoutDestination(): pino.DestinationStream {
  return pino.destination({ dest: 1, sync: false, minLength: 4096, periodicFlush: 100 });
}

/**
 * The process logger: JSON lines on stdout. Secrets are redacted here, at the
 * logger, so no call site can leak one by passing a header object along.
 */
export function createLogger(level: string, destination: pino.DestinationStream = stdoutDestination()): Logger {
  return pino(
    {
      level,
      base: { service: 'gatehouse' },
      timestamp: isoTimeCached,
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    },
    destination,
  );
}

export type { Logger };

/** The fields of the one log line written per request. */
export interface RequestLogLine {
  request_id: string;
  listener: string;
  protocol: 'http' | 'grpc' | 'websocket';
  method: string;
  path: string;
  deployment: string | undefined;
  reason: string;
  status: number;
  /** gRPC calls: the method (`:path`) and the final grpc-status the client got. */
  grpc_method?: string;
  grpc_status?: number;
  duration_ms: number;
  token_id: string | undefined;
  client: string;
}
