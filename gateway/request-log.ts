import pino from 'pino';
import { censorSecrets, isoTimeCached, writeHeldLinesFirst, type Logger, type RequestLogLine } from './log';

/** What the line takes from the logger, so it reads as the logger's own lines do. */
interface LoggerParts {
  /** The logger's bindings (`,"service":"gatehouse"`, a child's `worker`…), already JSON. */
  readonly [pino.symbols.chindingsSym]: string;
  readonly [pino.symbols.streamSym]: pino.DestinationStream;
}

const LEVEL = { info: pino.levels.values.info, warn: pino.levels.values.warn } as const;

/** Printable ASCII with nothing JSON escapes: such a string is quoted as it is. */
const PLAIN = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

/** A JSON string of `value`, with any secret in it censored as the logger's formatter would. */
function json(value: string): string {
  const clean = censorSecrets(value);
  return PLAIN.test(clean) ? `"${clean}"` : JSON.stringify(clean);
}

/**
 * Lines recorded this turn of the event loop, written together at its end:
 * formatted one after another, a line costs about half what it costs
 * formatted between two requests, when its code and data have gone cold
 * (`--cpu-prof`, under wrk). Parallel arrays: a request adds no object of its own.
 */
const pending = { count: 0, loggers: [] as Logger[], lines: [] as (RequestLogLine | undefined)[], levels: [] as number[], times: [] as number[] };
let scheduled = false;
let writing = false;

/**
 * Writes the lines recorded so far. It runs at the end of the turn, and before
 * stdout takes another line or flushes (`logger.flush()`, the 100 ms tick,
 * process exit): a line is never lost to a SIGTERM, nor written after a line
 * logged later.
 */
export function writePendingRequestLines(): void {
  // Writing a line (or filling a batch) comes back here.
  if (writing || pending.count === 0) return;
  writing = true;
  const { loggers, lines, levels, times } = pending;
  try {
    for (let i = 0; i < pending.count; i++) {
      format(loggers[i], lines[i] as RequestLogLine, levels[i], times[i]);
      // Not kept for the next batch: a line holds its request's strings.
      lines[i] = undefined;
    }
  } finally {
    pending.count = 0;
    writing = false;
  }
}
writeHeldLinesFirst(writePendingRequestLines);

function endOfTurn(): void {
  scheduled = false;
  writePendingRequestLines();
}

/**
 * Records the one line per request (SPEC §8), with the time it is recorded;
 * it is written at the end of the turn, the same JSON the logger would write
 * for `logger[level](line, 'request')`: its level, time and bindings, the
 * line's fields (absent ones left out) and `"msg":"request"`. The line's
 * shape is fixed, so it is built here as one string: pino's generic path
 * (copying through the redaction hook, a loop over keys, a character scan of
 * every key and value) cost more than the rest of the line together.
 */
export function writeRequestLine(logger: Logger, line: RequestLogLine, level: keyof typeof LEVEL): void {
  const value = LEVEL[level];
  if (logger.levelVal > value) return;
  const i = pending.count++;
  pending.loggers[i] = logger;
  pending.lines[i] = line;
  pending.levels[i] = value;
  pending.times[i] = Date.now();
  if (scheduled) return;
  scheduled = true;
  setImmediate(endOfTurn);
}

function format(logger: Logger, line: RequestLogLine, value: number, time: number): void {
  const parts = logger as unknown as LoggerParts;
  // listener, protocol, reason and deployment are the gateway's own words (a Deployment name is a DNS
  // label): plain ASCII, never a secret, so they are quoted as they are. The rest may come from a client.
  let out = `{"level":${value}${isoTimeCached(time)}${parts[pino.symbols.chindingsSym]},"request_id":${json(line.request_id)}`
    + `,"listener":"${line.listener}","protocol":"${line.protocol}","method":${json(line.method)},"path":${json(line.path)}`;
  if (line.deployment !== undefined) out += `,"deployment":"${line.deployment}"`;
  out += `,"reason":"${line.reason}","status":${line.status}`;
  if (line.grpc_method !== undefined) out += `,"grpc_method":${json(line.grpc_method)}`;
  if (line.grpc_status !== undefined) out += `,"grpc_status":${line.grpc_status}`;
  if (line.error !== undefined) out += `,"error":${json(line.error)}`;
  out += `,"duration_ms":${line.duration_ms}`;
  if (line.token_id !== undefined) out += `,"token_id":${json(line.token_id)}`;
  out += `,"client":${json(line.client)}`;
  if (line.bytes_in !== undefined) out += `,"bytes_in":${line.bytes_in}`;
  if (line.bytes_out !== undefined) out += `,"bytes_out":${line.bytes_out}`;
  parts[pino.symbols.streamSym].write(`${out},"msg":"request"}\n`);
}
