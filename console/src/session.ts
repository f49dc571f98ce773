import type { Api, Whoami } from './api.js';

const KEY = 'gatehouse.console.token';

/**
 * The developer token lives in this tab's sessionStorage only: never
 * localStorage or a cookie, so it goes when the tab closes or on sign out.
 */
export const tokenStore = {
  load(): string | null {
    return sessionStorage.getItem(KEY);
  },
  save(token: string): void {
    sessionStorage.setItem(KEY, token);
  },
  forget(): void {
    sessionStorage.removeItem(KEY);
  },
};

/** What a page gets once signed in. */
export interface SignedIn {
  readonly api: Api;
  readonly me: Whoami;
  /**
   * Shows a failed call in `status`; a call refused because the session's
   * own token stopped working (401/403) signs out instead.
   */
  fail(err: unknown, status: HTMLElement): void;
  /** Forgets the token and everything shown, and returns to the sign-in form with `message`. */
  signOut(message?: string): void;
  /** False once signed out: an answer that arrives later must not put data back on the page. */
  isCurrent(): boolean;
}
