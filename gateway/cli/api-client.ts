import { Agent, request } from 'undici';
import { CommandError, UsageError } from './args';

/** What an error answer of the admin API carries. */
interface ApiErrorBody {
  error?: string;
  message?: string;
  field?: string;
}

/** An error answer of the admin API (exit 1), with its status and error code. */
export class ApiError extends CommandError {
  constructor(message: string, readonly status: number, readonly code: string | undefined) {
    super(message);
  }
}

/** Checks an `--endpoint` value and returns it without a trailing slash. */
export function normalizeEndpoint(value: string): string {
  const url = URL.parse(value);
  if (url === null) throw new UsageError(`--endpoint must be a URL like http://127.0.0.1:9090 (got "${value}")`);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`--endpoint must be an http:// or https:// URL (got "${value}")`);
  return value.replace(/\/+$/, '');
}

/**
 * A client of one admin API endpoint with one developer token. Error
 * answers become CommandErrors carrying the server's message (which names
 * the field for a validation error); a 404 can be asked for as `null`.
 */
export class ApiClient {
  private readonly agent = new Agent({ connect: { timeout: 10_000 }, headersTimeout: 30_000, bodyTimeout: 30_000 });

  /** `unauthorizedHint` is added to a 401's message: what to do when the token is refused. */
  constructor(readonly endpoint: string, private readonly token: string, private readonly unauthorizedHint?: string) {}

  async call<T>(method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', path: string, body?: unknown): Promise<T> {
    return (await this.send<T>(method, path, body, false)) as T;
  }

  /** Like `call`, but a 404 (no such token or Deployment) resolves to null. */
  maybe<T>(method: 'GET' | 'DELETE' | 'PATCH', path: string, body?: unknown): Promise<T | null> {
    return this.send<T>(method, path, body, true);
  }

  close(): Promise<void> {
    return this.agent.close();
  }

  private async send<T>(method: string, path: string, body: unknown, missingIsNull: boolean): Promise<T | null> {
    let res;
    try {
      res = await request(this.endpoint + path, {
        method: method as 'GET',
        dispatcher: this.agent,
        headers: { authorization: `Bearer ${this.token}`, accept: 'application/json', ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      throw new CommandError(`cannot reach the admin API at ${this.endpoint}: ${code}`);
    }
    const text = await res.body.text();
    if (res.statusCode === 204) return undefined as T;
    let json: unknown;
    try {
      json = text === '' ? undefined : JSON.parse(text);
    } catch {
      throw new CommandError(`${this.endpoint} answered ${res.statusCode} with something that is not JSON; is it a Gatehouse admin listener?`);
    }
    if (res.statusCode >= 200 && res.statusCode < 300) return json as T;
    const error = (json ?? {}) as ApiErrorBody;
    if (missingIsNull && res.statusCode === 404 && error.error === 'not_found') return null;
    const hint = res.statusCode === 401 && this.unauthorizedHint ? `; ${this.unauthorizedHint}` : '';
    throw new ApiError(`${error.message ?? 'request failed'} (${res.statusCode}${error.error ? ` ${error.error}` : ''})${hint}`, res.statusCode, error.error);
  }
}
