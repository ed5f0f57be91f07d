// A raw event-stream reader over node:http, for tests that check exact bytes on the wire.
import http, { type IncomingHttpHeaders, type IncomingMessage } from 'node:http';

export interface RawStream {
  status: number;
  headers: IncomingHttpHeaders;
  /** Everything received so far. */
  text(): string;
  /** Resolves once the received text matches; rejects after `timeoutMs`. */
  until(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** The session id from the endpoint event. */
  sessionId(): Promise<string>;
  /** Resolves when the server ends the stream. */
  ended: Promise<void>;
  res: IncomingMessage;
  close(): void;
}

/** Opens `url` with GET and starts collecting the body as text. */
export function openStream(url: string, headers: Record<string, string> = {}): Promise<RawStream> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers: { Accept: 'text/event-stream', ...headers } }, (res) => {
      let body = '';
      const waiters = new Set<() => void>();
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
        for (const wake of waiters) wake();
      });
      const ended = new Promise<void>((done) => res.on('close', () => done()));
      const until = (pattern: RegExp, timeoutMs = 5000) =>
        new Promise<RegExpMatchArray>((ok, fail) => {
          const check = () => {
            const match = body.match(pattern);
            if (match) {
              waiters.delete(check);
              clearTimeout(timer);
              ok(match);
            }
          };
          const timer = setTimeout(() => {
            waiters.delete(check);
            fail(new Error(`Timed out waiting for ${pattern} in:\n${body}`));
          }, timeoutMs);
          waiters.add(check);
          check();
        });
      resolve({
        status: res.statusCode ?? 0,
        headers: res.headers,
        text: () => body,
        until,
        sessionId: async () => (await until(/sessionId=([0-9a-f-]{36})/))[1]!,
        ended,
        res,
        close: () => req.destroy(),
      });
    });
    req.on('error', reject);
  });
}

/** POSTs a JSON body (string or value) and resolves with status, headers and parsed JSON (if any). */
export async function post(
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Headers; json: any; text: string }> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await response.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, json, text };
}
