import pino, { type Logger } from 'pino';

/**
 * The process logger: JSON lines on stdout. Secrets are redacted here, at the
 * logger, so no call site can leak one by passing a header object along.
 */
export function createLogger(level: string, destination: pino.DestinationStream = pino.destination({ dest: 1, sync: false })): Logger {
  return pino(
    {
      level,
      base: { service: 'gatehouse' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: {
        paths: ['authorization', 'headers.authorization', 'req.headers.authorization', 'secret', '*.secret', 'api_token', 'token.hash', 'hash'],
        censor: '[redacted]',
      },
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
