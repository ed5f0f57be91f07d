// Shared helpers of the auth and security tests: raw SSE opens with fetch, SDK v1 clients with auth headers,
// JWT minting and checks of JSON-RPC error envelopes.
import { expect } from 'vitest';
import jwt, { type SignOptions } from 'jsonwebtoken';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { startHarness, type Harness, type HarnessOptions } from '../helpers/server.js';

export const secret = 'test-secret-of-at-least-32-bytes-long!!';

/** Signs an HS256 token for `sub` with the shared test secret (or another one). */
export function mintToken(claims: Record<string, unknown> = {}, options: SignOptions & { key?: string } = {}): string {
  const { key = secret, ...signOptions } = options;
  // A token with its own `exp` claim must not get `expiresIn` too.
  const expiry: SignOptions = claims.exp === undefined ? { expiresIn: '5m' } : {};
  return jwt.sign({ sub: 'alice', ...claims }, key, { algorithm: 'HS256', ...expiry, ...signOptions });
}

/** An unsigned `alg: none` token, as an attacker would craft it. */
export function unsignedToken(claims: Record<string, unknown> = { sub: 'mallory' }): string {
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'none', typ: 'JWT' })}.${part({ ...claims, iat: Math.floor(Date.now() / 1000) })}.`;
}

/** Everything a test opened, closed after each test by `cleanup()`. */
const harnesses: Harness[] = [];
const closers: (() => Promise<void> | void)[] = [];

export async function harnessWith(options: HarnessOptions): Promise<Harness> {
  const harness = await startHarness(options);
  harnesses.push(harness);
  return harness;
}

export async function cleanup(): Promise<void> {
  await Promise.all(
    closers.splice(0).map(async (close) => {
      try {
        await close();
      } catch {
        // already closed
      }
    }),
  );
  await Promise.all(harnesses.splice(0).map((h) => h.close()));
}

export interface OpenedStream {
  status: number;
  headers: Headers;
  /** The data of the `endpoint` event (200 only). */
  endpoint: string;
  /** The id of the `endpoint` event (200 only). */
  endpointEventId: string;
  sessionId: string;
  /** The body of a refusal (non-200 only). */
  body: string;
  /** Aborts the stream (the client goes away). */
  close(): void;
}

/**
 * GETs an SSE URL with fetch. A 200 is read up to its `endpoint` event and kept open (close() aborts it);
 * any other status is read to its end.
 */
export async function openStream(url: string, headers: Record<string, string> = {}): Promise<OpenedStream> {
  const controller = new AbortController();
  const close = () => controller.abort();
  closers.push(close);
  const response = await fetch(url, { headers: { Accept: 'text/event-stream', ...headers }, signal: controller.signal });
  const opened: OpenedStream = {
    status: response.status,
    headers: response.headers,
    endpoint: '',
    endpointEventId: '',
    sessionId: '',
    body: '',
    close,
  };
  if (response.status !== 200) {
    opened.body = await response.text();
    return opened;
  }
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let text = '';
  const deadline = setTimeout(close, 5000);
  try {
    while (!/event: endpoint\n(?:[^\n]*\n)*?\n/.test(text)) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`Stream ended before the endpoint event: ${JSON.stringify(text)}`);
      text += decoder.decode(value, { stream: true });
    }
  } finally {
    clearTimeout(deadline);
  }
  const frame = /event: endpoint\n((?:[^\n]+\n)*)/.exec(text)![1]!;
  for (const line of frame.split('\n')) {
    if (line.startsWith('data: ')) opened.endpoint += line.slice(6);
    if (line.startsWith('id: ')) opened.endpointEventId = line.slice(4);
  }
  opened.sessionId = new URL(opened.endpoint, url).searchParams.get('sessionId') ?? '';
  // Keep draining so the server never sees backpressure; errors after abort are expected.
  void (async () => {
    try {
      while (!(await reader.read()).done);
    } catch {
      // aborted
    }
  })();
  return opened;
}

/** An SDK v1 client connected through SSEClientTransport, sending `authHeaders` on the GET and every POST. */
export async function connectClient(sseUrl: string, authHeaders: Record<string, string> = {}): Promise<Client> {
  const client = new Client({ name: 'security-test', version: '1.0.0' });
  const transport = new SSEClientTransport(new URL(sseUrl), {
    requestInit: { headers: authHeaders },
    eventSourceInit: {
      fetch: (url, init) => {
        const headers = new Headers(init?.headers);
        for (const [name, value] of Object.entries(authHeaders)) headers.set(name, value);
        return fetch(url, { ...init, headers });
      },
    },
  });
  await client.connect(transport);
  closers.push(() => client.close());
  return client;
}

export interface WhoAmI {
  clientId: string | null;
  scopes: string[];
  sessionUser: string | null;
}

export async function whoami(client: Client): Promise<WhoAmI> {
  const result = await client.callTool({ name: 'whoami', arguments: {} });
  return JSON.parse((result as { content: { text: string }[] }).content[0]!.text) as WhoAmI;
}

/** A JSON-RPC request body. */
export const ping = (id: number | string = 1) => ({ jsonrpc: '2.0', id, method: 'ping' });

interface ResponseLike {
  status: number;
  headers: Record<string, string>;
  text: string;
}

/**
 * Asserts an error response is a JSON-RPC envelope with the status, reason and id given, and carries no stack
 * trace or source path. Returns the parsed body.
 */
export function expectEnvelope(res: ResponseLike, status: number, reason: string, id: string | number | null = null) {
  expect(res.status).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/json/);
  const body = JSON.parse(res.text) as { jsonrpc: string; id: unknown; error: { code: number; message: string; data: { reason: string } } };
  expect(body).toEqual({
    jsonrpc: '2.0',
    id,
    error: { code: expect.any(Number), message: expect.any(String), data: { reason } },
  });
  expectNoInternals(res.text);
  return body;
}

/** No stack frames, file paths or error class names in a response body. */
export function expectNoInternals(text: string): void {
  expect(text).not.toMatch(/\n\s*at |\bat .+:\d+:\d+|node_modules|\/lib\/|\.ts\b|\bstack\b|TypeError|ReferenceError/);
}

/** The headers of a fetch response as a plain object with lower-case names. */
export function headersObject(headers: Headers): Record<string, string> {
  const out: Record<string, string> = {};
  headers.forEach((value, name) => (out[name] = value));
  return out;
}

/** Asserts a raw fetch refusal the same way. */
export function expectStreamRefused(opened: OpenedStream, status: number, reason: string) {
  return expectEnvelope({ status: opened.status, headers: headersObject(opened.headers), text: opened.body }, status, reason);
}
