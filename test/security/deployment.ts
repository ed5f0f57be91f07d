// The deployment the adversarial tests attack, as a new user would build it: an app-level express.json() in
// front, three strategies (jwtStrategy, a bare-array apiKeyStrategy, passport-http-bearer), caps and rate limits on.
import { createHash } from 'node:crypto';
import net from 'node:net';
import express from 'express';
import { Strategy as BearerStrategy } from 'passport-http-bearer';
import { apiKeyStrategy, jwtStrategy } from '../../lib/index.js';
import { harnessWith, headersObject, secret } from '../auth/helpers.js';
import type { Harness, HarnessOptions } from '../helpers/server.js';

export const apiKey = 'sk-live-0123456789abcdef0123';
/** The principal id apiKeyStrategy gives a bare-array key; an impersonator puts it in a JWT's `sub`. */
export const apiKeyPrincipalId = `key:${createHash('sha256').update(apiKey).digest('hex').slice(0, 8)}`;
export const keyHolder = { 'X-API-Key': apiKey };
export const bearerToken = 'opaque-bearer-token-0001';

/** The app of the issue: express.json({ limit: '20mb' }) before the router at maxMessageSize '64kb'. */
export function deploy(options: HarnessOptions = {}): Promise<Harness> {
  return harnessWith({
    before: (app) => app.use(express.json({ limit: '20mb' })),
    auth: {
      strategies: [
        jwtStrategy({ secret, queryParameter: 'token' }),
        apiKeyStrategy({ keys: [apiKey], queryParameter: 'api_key' }),
        new BearerStrategy((token, done) => done(null, token === bearerToken ? { id: 'bearer-user' } : false)),
      ],
    },
    maxMessageSize: '64kb',
    maxSessions: 50,
    maxSessionsPerUser: 2,
    rateLimit: { messages: { windowMs: 60_000, limit: 500 } },
    keepAliveMs: 0,
    ...options,
  });
}

/** The same deployment without the app-level body parser: the router reads raw bodies itself. */
export const deployRaw = (options: HarnessOptions = {}): Promise<Harness> => deploy({ before: undefined, ...options });

export interface Reply {
  status: number;
  headers: Record<string, string>;
  text: string;
}

/** POSTs exact bytes with exact headers (fetch adds only Content-Length). */
export async function postBytes(url: string, body: string | Buffer, headers: Record<string, string> = {}): Promise<Reply> {
  const response = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json', ...headers }, body: body as BodyInit });
  return { status: response.status, headers: headersObject(response.headers), text: await response.text() };
}

/** POSTs `body` with chunked transfer encoding (no Content-Length), as a streaming client does. */
export async function postChunked(url: string, body: string, headers: Record<string, string> = {}): Promise<Reply> {
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(new TextEncoder().encode(body));
      controller.close();
    },
  });
  const init = { method: 'POST', headers: { 'Content-Type': 'application/json', ...headers }, body: stream, duplex: 'half' };
  const response = await fetch(url, init as RequestInit);
  return { status: response.status, headers: headersObject(response.headers), text: await response.text() };
}

export interface RawExchange {
  /** Everything the server sent, as text. */
  readonly received: string;
  /** True once the server ended or closed the connection. */
  readonly closed: boolean;
  /** Resolves with true when the server closes the connection within `ms`, else false. */
  closedWithin(ms: number): Promise<boolean>;
  /** Resolves once `text` holds a complete response head and body of `Content-Length`, or rejects after `ms`. */
  response(ms?: number): Promise<Reply>;
  write(chunk: string | Buffer): boolean;
  destroy(): void;
}

/** A plain TCP connection to the server that sends `head` and then what the test writes: for trickles and liars. */
export async function rawRequest(baseUrl: string, head: string): Promise<RawExchange> {
  const { hostname, port } = new URL(baseUrl);
  const socket = net.connect(Number(port), hostname);
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  let received = '';
  let closed = false;
  const waiters = new Set<() => void>();
  const wake = () => waiters.forEach((waiter) => waiter());
  socket.setEncoding('utf8');
  socket.on('data', (text: string) => {
    received += text;
    wake();
  });
  socket.on('error', () => {});
  socket.on('close', () => {
    closed = true;
    wake();
  });
  socket.on('end', () => {
    closed = true;
    wake();
  });
  const until = (ready: () => boolean, ms: number): Promise<boolean> =>
    new Promise((resolve) => {
      if (ready()) return resolve(true);
      const timer = setTimeout(() => done(false), ms);
      const check = () => ready() && done(true);
      const done = (value: boolean) => {
        clearTimeout(timer);
        waiters.delete(check);
        resolve(value);
      };
      waiters.add(check);
    });
  socket.write(head);
  return {
    get received() {
      return received;
    },
    get closed() {
      return closed;
    },
    closedWithin: (ms) => until(() => closed, ms),
    async response(ms = 5000) {
      const parsed = () => parseResponse(received);
      if (!(await until(() => parsed() !== undefined, ms)))
        throw new Error(`No complete response within ${ms} ms; got ${JSON.stringify(received.slice(0, 200))}`);
      return parsed()!;
    },
    write: (chunk) => socket.write(chunk),
    destroy: () => socket.destroy(),
  };
}

function parseResponse(text: string): Reply | undefined {
  const end = text.indexOf('\r\n\r\n');
  if (end === -1) return undefined;
  const [statusLine, ...lines] = text.slice(0, end).split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const body = text.slice(end + 4);
  const length = Number(headers['content-length'] ?? NaN);
  if (Number.isFinite(length) && Buffer.byteLength(body) < length) return undefined;
  return { status: Number(statusLine!.split(' ')[1]), headers, text: body };
}
