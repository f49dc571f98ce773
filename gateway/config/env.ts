const REFERENCE = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/**
 * Expands `${VAR}` and `${VAR:-default}` in a string. An unset variable with
 * no default is an error, so a typo cannot silently become an empty pepper.
 */
export function expandEnv(text: string, env: NodeJS.ProcessEnv, path: string): string {
  return text.replace(REFERENCE, (_whole, name: string, fallback: string | undefined) => {
    const value = env[name];
    if (value !== undefined && (value !== '' || fallback === undefined)) return value;
    if (fallback !== undefined) return fallback;
    throw new ConfigError(path, `environment variable ${name} is not set (use \${${name}:-default} for a default)`);
  });
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
