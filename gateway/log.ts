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

let second = -1;
/** `,"time":"YYYY-MM-DDTHH:MM:SS.` of the current second. */
let head = '';
let stampedAt = -1;
let stamp = '';

/**
 * pino's isoTime, with the date formatted once per second and the
 * milliseconds appended: `toISOString` costs over a microsecond, and under
 * load nearly every millisecond has a line.
 */
export function isoTimeCached(now = Date.now()): string {
  if (now !== stampedAt) {
    stampedAt = now;
    const ms = now % 1000;
    if (now - ms !== second) {
      second = now - ms;
      head = `,"time":"${new Date(second).toISOString().slice(0, 20)}`;
    }
    stamp = `${head}${ms < 10 ? '00' : ms < 100 ? '0' : ''}${ms}Z"`;
  }
  return stamp;
}

/** Where batches go: stdout as sonic-boom writes it in buffer mode, synchronously. */
interface BatchOut {
  write(batch: Buffer): unknown;
  flushSync(): void;
}

/** Writers that hold lines back (the request lines of a turn): they write them before any other line, and before a flush. */
const heldBack: (() => void)[] = [];

export function writeHeldLinesFirst(write: () => void): void {
  heldBack.push(write);
}

function writeHeldLines(): void {
  for (const write of heldBack) write();
}

/** Destinations whose buffered lines must reach stdout before the process exits. */
const buffered = new Set<LineBatch>();
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

/** A UTF-16 code unit is at most this many UTF-8 bytes. */
const MAX_BYTES_PER_UNIT = 3;

/**
 * stdout, written in batches of at most {@link PIPE_BUF} bytes, and at least
 * every 100 ms. A write per line cost more than the rest of a proxied request.
 * Lines are encoded straight into the batch's buffer: a line with room for its
 * longest possible encoding is copied in without measuring it first, so only
 * the line that may close a batch has its UTF-8 length counted (measuring
 * every line, as a string batch or sonic-boom's utf8 mode must, cost about a
 * microsecond a line, and sonic-boom encoded each batch twice).
 */
export class LineBatch implements pino.DestinationStream {
  private batch = Buffer.allocUnsafeSlow(PIPE_BUF);
  private used = 0;

  constructor(private readonly out: BatchOut) {
    setInterval(() => this.flush(), 100).unref();
  }

  write(line: string): void {
    // A line logged now was logged after the held ones: it goes after them.
    writeHeldLines();
    if (this.used + line.length * MAX_BYTES_PER_UNIT > PIPE_BUF) {
      const bytes = Buffer.byteLength(line);
      if (this.used + bytes > PIPE_BUF) this.flush();
      // Longer than any batch: written whole, on its own.
      if (bytes > PIPE_BUF) {
        this.out.write(Buffer.from(line));
        return;
      }
    }
    this.used += this.batch.write(line, this.used);
  }

  /** Hands over what is pending (stdout is written synchronously); `logger.flush()` lands here. */
  flush(done?: () => void): void {
    writeHeldLines();
    if (this.used > 0) {
      const full = this.batch.subarray(0, this.used);
      // A fresh buffer for the next batch: sonic-boom keeps a batch it could not write, to try again.
      this.batch = Buffer.allocUnsafeSlow(PIPE_BUF);
      this.used = 0;
      this.out.write(full);
    }
    done?.();
  }

  flushSync(): void {
    this.flush();
    this.out.flushSync();
  }
}

function stdoutDestination(): pino.DestinationStream {
  // sonic-boom in buffer mode takes Buffers, which its type declarations do not say.
  const out = pino.destination({ dest: 1, sync: true, contentMode: 'buffer' }) as unknown as BatchOut;
  const destination = new LineBatch(out);
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
