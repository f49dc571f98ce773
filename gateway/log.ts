import pino, { type Logger } from 'pino';
import { secretCensor, secretRedactor } from './log-redaction';

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

/** Token secrets start with it (SPEC §1). */
const SECRET_PREFIX = 'gth_';

/** Censors every secret-shaped run in a text, as the logger does for every top-level string. */
export const censorSecrets = secretCensor(SECRET_PREFIX, '[redacted]');

/**
 * pino's `err` serializer, run after the redaction hook: its message and stack
 * join those of every `cause`, and a foreign error may quote what it was given.
 */
function errSerializer(err: Error): pino.SerializedError {
  const out = pino.stdSerializers.err(err);
  // Not error-like: handed back as it is, and not ours to change.
  if ((out as unknown) === err) return out;
  for (const key of Object.keys(out)) {
    const value: unknown = out[key];
    if (typeof value === 'string') out[key] = censorSecrets(value);
  }
  return out;
}

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

/** Destinations whose buffered lines must reach stdout before the process exits. */
const buffered = new Set<pino.DestinationStream & { flushSync(): void }>();
process.once('exit', () => {
  for (const destination of buffered) {
    try {
      destination.flushSync();
    } catch {
      // stdout already closed: nothing left to do.
    }
  }
});

/**
 * Workers share one stdout: a pipe write of at most PIPE_BUF bytes is atomic
 * (POSIX), so a batch never grows past it and two workers' lines never interleave.
 */
export const PIPE_BUF = 4096;

/**
 * stdout, written in batches of at most {@link PIPE_BUF} bytes, and at least
 * every 100 ms. A write per line cost more than the rest of a proxied request.
 * Lines are joined here rather than by sonic-boom's `minLength`: that measures
 * the UTF-8 length of its whole pending buffer on every line (about 1 µs a line
 * at 4 KiB), where this counts each line's bytes once.
 */
export class LineBatch implements pino.DestinationStream {
  private pending = '';
  private pendingBytes = 0;

  constructor(private readonly out: pino.DestinationStream & { flushSync(): void }) {
    setInterval(() => this.flush(), 100).unref();
  }

  write(line: string): void {
    const bytes = Buffer.byteLength(line);
    if (this.pendingBytes + bytes > PIPE_BUF) this.flush();
    this.pending += line;
    this.pendingBytes += bytes;
  }

  /** Hands over what is pending (stdout is written synchronously); `logger.flush()` lands here. */
  flush(done?: () => void): void {
    if (this.pending !== '') {
      const batch = this.pending;
      this.pending = '';
      this.pendingBytes = 0;
      this.out.write(batch);
    }
    done?.();
  }

  flushSync(): void {
    this.flush();
    this.out.flushSync();
  }
}

function stdoutDestination(): pino.DestinationStream {
  const destination = new LineBatch(pino.destination({ dest: 1, sync: true }));
  buffered.add(destination);
  return destination;
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
      formatters: { log: secretRedactor(REDACTED_PATHS, '[redacted]', SECRET_PREFIX) },
      serializers: { err: errSerializer },
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
  /** Why the upstream exchange failed (the foreign error's code and message), for operators. */
  error?: string;
  duration_ms: number;
  token_id: string | undefined;
  client: string;
  /** Body bytes received from the client and sent to it (what a token's usage counts). */
  bytes_in?: number;
  bytes_out?: number;
}
