const NAME = /^[A-Za-z_][A-Za-z0-9_]*/;

/**
 * Expands `${VAR}` and `${VAR:-default}` in a string; a default may hold
 * references itself (`${A:-${B:-x}}`), as in the shell. An unset variable
 * with no default is an error, so a typo cannot silently become an empty
 * pepper. Values from the environment are never expanded again; text that
 * is not a whole reference (`$A`, `${A`) stays as written.
 */
export function expandEnv(text: string, env: NodeJS.ProcessEnv, path: string): string {
  let out = '';
  let i = 0;
  while (i < text.length) {
    const start = text.indexOf('${', i);
    if (start < 0) break;
    out += text.slice(i, start);
    const ref = reference(text, start);
    if (ref === undefined) {
      out += '${';
      i = start + 2;
      continue;
    }
    const value = env[ref.name];
    if (value !== undefined && (value !== '' || ref.fallback === undefined)) out += value;
    else if (ref.fallback !== undefined) out += expandEnv(ref.fallback, env, path);
    else throw new ConfigError(path, `environment variable ${ref.name} is not set (use \${${ref.name}:-default} for a default)`);
    i = ref.end;
  }
  return out + text.slice(i);
}

/** The reference starting at `start` (at its `${`), its default's raw text and where it ends; undefined if malformed. */
function reference(text: string, start: number): { name: string; fallback?: string; end: number } | undefined {
  const name = NAME.exec(text.slice(start + 2))?.[0];
  if (name === undefined) return undefined;
  let i = start + 2 + name.length;
  if (text[i] === '}') return { name, end: i + 1 };
  if (!text.startsWith(':-', i)) return undefined;
  i += 2;
  const from = i;
  // The default ends at the `}` that closes this reference, past any nested `${...}`.
  for (let depth = 0; i < text.length; i++) {
    if (text.startsWith('${', i)) {
      depth++;
      i++;
    } else if (text[i] === '}') {
      if (depth === 0) return { name, fallback: text.slice(from, i), end: i + 1 };
      depth--;
    }
  }
  return undefined;
}

/** A config problem, always naming the key path it is about. */
export class ConfigError extends Error {
  readonly path: string;
  constructor(path: string, problem: string) {
    super(path ? `${path}: ${problem}` : problem);
    this.name = 'ConfigError';
    this.path = path;
  }
}
