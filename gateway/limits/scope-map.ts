/**
 * Values per token and scope, looked up without building a key: the token id
 * and the scope ('' or a Deployment's name) are long-lived strings whose
 * hashes are cached, where a concatenated key would be a new string to hash
 * on every request.
 */
export class ScopeMap<T> {
  private readonly tokens = new Map<string, Map<string, T>>();

  /** Tokens with at least one value. */
  get size(): number {
    return this.tokens.size;
  }

  get(tokenId: string, scope: string): T | undefined {
    return this.tokens.get(tokenId)?.get(scope);
  }

  set(tokenId: string, scope: string, value: T): void {
    let scopes = this.tokens.get(tokenId);
    if (scopes === undefined) this.tokens.set(tokenId, (scopes = new Map()));
    scopes.set(scope, value);
  }

  delete(tokenId: string, scope: string): void {
    const scopes = this.tokens.get(tokenId);
    if (scopes === undefined || !scopes.delete(scope)) return;
    if (scopes.size === 0) this.tokens.delete(tokenId);
  }

  clear(): void {
    this.tokens.clear();
  }

  *values(): IterableIterator<T> {
    for (const scopes of this.tokens.values()) yield* scopes.values();
  }
}
