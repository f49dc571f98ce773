import { request as undiciRequest, Agent } from 'undici';
import type { IncomingHttpHeaders } from 'node:http';

export interface Reply {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly text: string;
  json<T = Record<string, unknown>>(): T;
}

/** One HTTP/1.1 request through a fresh connection-less dispatcher; the body is read whole. */
export async function get(url: string, headers: Record<string, string> = {}, init: { method?: string; body?: string } = {}): Promise<Reply> {
  const agent = new Agent({ pipelining: 0, connect: { rejectUnauthorized: false } });
  try {
    const res = await undiciRequest(url, { method: (init.method ?? 'GET') as 'GET', headers, body: init.body, dispatcher: agent });
    const text = await res.body.text();
    return { status: res.statusCode, headers: res.headers, text, json: <T>() => JSON.parse(text) as T };
  } finally {
    await agent.close();
  }
}
