/**
 * Redaction of logged objects, compiled once from a list of paths of the forms
 * `key`, `a.b` and `*.a.b` (`*` is any top-level key). pino's own `redact`
 * (through @pinojs/redact) runs the whole wildcard list over every field of
 * every line, re-parsing the paths each time: several microseconds per
 * request line. This walks only objects that can hold a listed path and
 * copies only what it censors, so the caller's object is never changed.
 */

type LogObject = Record<string, unknown>;

interface Compiled {
  /** Top-level keys censored outright. */
  readonly top: ReadonlySet<string>;
  /** Paths below a named top-level key. */
  readonly under: ReadonlyMap<string, readonly (readonly string[])[]>;
  /** Paths below any top-level key (from `*.…`). */
  readonly anywhere: readonly (readonly string[])[];
}

function compile(paths: readonly string[]): Compiled {
  const top = new Set<string>();
  const under = new Map<string, string[][]>();
  const anywhere: string[][] = [];
  for (const path of paths) {
    const [first, ...rest] = path.split('.');
    if (rest.includes('*') || first === '' || rest.includes('')) throw new Error(`unsupported redaction path "${path}"`);
    if (rest.length === 0) top.add(first);
    else if (first === '*') anywhere.push(rest);
    else under.set(first, [...(under.get(first) ?? []), rest]);
  }
  return { top, under, anywhere };
}

function isObject(value: unknown): value is LogObject {
  return typeof value === 'object' && value !== null;
}

/** `value` with `path` censored, copying each object on the way; `value` itself when the path is absent. */
function censorPath(value: LogObject, path: readonly string[], at: number, censor: string): LogObject {
  const key = path[at];
  if (!Object.prototype.hasOwnProperty.call(value, key)) return value;
  const inner = value[key];
  if (at === path.length - 1) return { ...value, [key]: censor };
  if (!isObject(inner)) return value;
  const replaced = censorPath(inner, path, at + 1, censor);
  return replaced === inner ? value : { ...value, [key]: replaced };
}

/** Censors every secret-shaped run (`prefix` and the token-alphabet characters after it) in a text. */
export function secretCensor(prefix: string, censor: string): (text: string) => string {
  const run = new RegExp(`${prefix}[0-9A-Za-z]*`, 'g');
  const censored = `${prefix}${censor}`;
  return (text) => (text.includes(prefix) ? text.replace(run, censored) : text);
}

/**
 * A pino `formatters.log` hook censoring the given paths and, with
 * `secretPrefix`, any secret-shaped run in a top-level string: a client may
 * put a secret where no path names it (`/ws?access_token=gth_…` in `path`).
 */
export function secretRedactor(paths: readonly string[], censor: string, secretPrefix?: string): (obj: LogObject) => LogObject {
  const { top, under, anywhere } = compile(paths);
  const scrub = secretPrefix === undefined ? undefined : secretCensor(secretPrefix, censor);
  return (obj) => {
    let out: LogObject | undefined;
    for (const key in obj) {
      if (!Object.prototype.hasOwnProperty.call(obj, key)) continue;
      if (top.has(key)) {
        (out ??= { ...obj })[key] = censor;
        continue;
      }
      const value = obj[key];
      if (typeof value === 'string') {
        const clean = scrub === undefined ? value : scrub(value);
        if (clean !== value) (out ??= { ...obj })[key] = clean;
        continue;
      }
      if (!isObject(value)) continue;
      let redacted = value;
      for (const path of under.get(key) ?? []) redacted = censorPath(redacted, path, 0, censor);
      for (const path of anywhere) redacted = censorPath(redacted, path, 0, censor);
      if (redacted !== value) (out ??= { ...obj })[key] = redacted;
    }
    return out ?? obj;
  };
}
