// Test helpers: a raw SSE client over node:http (the bytes as sent, parsed by eventsource-parser), raw POSTs and an MCP handshake.
import http from 'node:http';
import type { Socket } from 'node:net';
import { StringDecoder } from 'node:string_decoder';
import { createParser } from 'eventsource-parser';

/** One parsed server-sent event. `event` is undefined when the frame had no `event:` line. */
export interface SseEvent {
  event: string | undefined;
  id: string | undefined;
  data: string;
}

export interface RawStream {
  status: number;
  headers: http.IncomingHttpHeaders;
  response: http.IncomingMessage;
  socket: Socket;
  /** Every event parsed so far, in order. */
  readonly events: SseEvent[];
  /** Every `retry:` value parsed so far. */
  readonly retries: number[];
  /** Every comment frame (keep-alives) parsed so far. */
  readonly comments: string[];
  /** Everything received so far, decoded as UTF-8. */
  readonly text: string;
  /** Bytes received so far. */
  readonly bytes: number;
  /** Data of the first `endpoint` event (the POST URL), once received. */
  readonly endpoint: string | undefined;
  /** True once the response ended or the connection closed. */
  readonly closed: boolean;
  /** Resolves when the response ends or the connection closes. */
  readonly done: Promise<void>;
  /** The next event (after those already returned by `next`) matching `filter`. */
  next(filter?: (event: SseEvent) => boolean, timeoutMs?: number): Promise<SseEvent>;
  /** Resolves once `predicate(events)` holds. */
  until(predicate: (events: SseEvent[]) => boolean, timeoutMs?: number, what?: string): Promise<void>;
  /** Cuts the TCP connection from the client side. */
  destroy(): void;
}

export interface OpenOptions {
  headers?: Record<string, string>;
  lastEventId?: string;
  /** Resolve only after the `endpoint` event of a 200 stream arrived. Defaults to `true`. */
  waitForEndpoint?: boolean;
  timeoutMs?: number;
}

/**
 * Opens `GET url` on a fresh connection (no agent pooling) and parses what arrives. A non-200 answer is read
 * to its end (see `text`) before this resolves.
 */
export function openSse(url: string, options: OpenOptions = {}): Promise<RawStream> {
  const { waitForEndpoint = true, timeoutMs = 5000 } = options;
  const headers: Record<string, string> = { Accept: 'text/event-stream', ...options.headers };
  if (options.lastEventId !== undefined) headers['Last-Event-ID'] = options.lastEventId;
  return new Promise<RawStream>((resolve, reject) => {
    const timer = setTimeout(() => {
      req.destroy();
      reject(new Error(`openSse(${url}) timed out`));
    }, timeoutMs);
    const req = http.get(url, { headers, agent: false }, (response) => {
      const stream = wrap(response, req);
      const ready =
        response.statusCode === 200 && waitForEndpoint
          ? stream.next((e) => e.event === 'endpoint', timeoutMs)
          : response.statusCode === 200
            ? Promise.resolve()
            : stream.done;
      void ready.then(
        () => {
          clearTimeout(timer);
          resolve(stream);
        },
        (error: unknown) => {
          clearTimeout(timer);
          reject(error);
        },
      );
    });
    req.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

export interface RequestOptions {
  method?: string;
  headers?: Record<string, string>;
  /** Sent as is, with its Content-Length. */
  body?: string | Uint8Array;
  agent?: http.Agent | false;
  /** Rejects when no response head arrives in time. Defaults to `5000` ms. */
  timeoutMs?: number;
}

/**
 * Sends any request (POST, GET, DELETE, …) and resolves as soon as the response head arrives, with the body
 * parsed as an event stream while it comes in; `done` and `text` give the whole body of a response that ends.
 */
export function openRequest(url: string, options: RequestOptions = {}): Promise<RawStream> {
  const { method = 'GET', body, agent = false, timeoutMs = 5000 } = options;
  const headers: Record<string, string | number> = { ...options.headers };
  if (body !== undefined) headers['Content-Length'] = Buffer.byteLength(body);
  return new Promise<RawStream>((resolve, reject) => {
    const req = http.request(url, { method, headers, agent }, (response) => {
      clearTimeout(timer);
      resolve(wrap(response, req));
    });
    const timer = setTimeout(() => {
      req.destroy();
      reject(new Error(`${method} ${url} got no response in ${timeoutMs} ms`));
    }, timeoutMs);
    req.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    req.end(body);
  });
}

function wrap(response: http.IncomingMessage, req: http.ClientRequest): RawStream {
  const events: SseEvent[] = [];
  const retries: number[] = [];
  const comments: string[] = [];
  const waiters = new Set<() => void>();
  const notify = () => {
    for (const waiter of [...waiters]) waiter();
  };
  let text = '';
  let bytes = 0;
  let endpoint: string | undefined;
  let closed = false;
  let cursor = 0;
  const parser = createParser({
    onEvent: (e) => {
      events.push({ event: e.event, id: e.id, data: e.data });
      if (e.event === 'endpoint' && endpoint === undefined) endpoint = e.data;
    },
    onRetry: (ms) => retries.push(ms),
    onComment: (comment) => comments.push(comment),
  });
  const decoder = new StringDecoder('utf8');
  response.on('data', (chunk: Buffer) => {
    const piece = decoder.write(chunk);
    bytes += chunk.length;
    text += piece;
    parser.feed(piece);
    notify();
  });
  const done = new Promise<void>((resolve) => {
    const finish = () => {
      if (closed) return;
      closed = true;
      resolve();
      notify();
    };
    response.on('end', finish);
    response.on('close', finish);
    response.on('error', finish);
    req.on('close', finish);
  });
  // A destroyed socket makes the response emit 'error' (ECONNRESET/aborted); the test expects that.
  req.on('error', () => {});

  const until = (predicate: (all: SseEvent[]) => boolean, timeoutMs = 5000, what = 'events'): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      const check = () => {
        if (predicate(events)) {
          cleanup();
          resolve();
        } else if (closed) {
          cleanup();
          reject(new Error(`stream closed while waiting for ${what}; got ${events.length} events`));
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`timed out waiting for ${what}; got ${events.length} events`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        waiters.delete(check);
      };
      waiters.add(check);
      check();
    });

  return {
    status: response.statusCode ?? 0,
    headers: response.headers,
    response,
    socket: response.socket as Socket,
    events,
    retries,
    comments,
    get text() {
      return text;
    },
    get bytes() {
      return bytes;
    },
    get endpoint() {
      return endpoint;
    },
    get closed() {
      return closed;
    },
    done,
    async next(filter = () => true, timeoutMs = 5000) {
      let found = -1;
      await until(
        () => {
          found = events.findIndex((e, i) => i >= cursor && filter(e));
          return found !== -1;
        },
        timeoutMs,
        'next event',
      );
      cursor = found + 1;
      return events[found]!;
    },
    until,
    destroy() {
      req.destroy();
      response.socket?.destroy();
    },
  };
}

/** The `sessionId` query parameter of an endpoint URL. */
export function sessionIdOf(endpoint: string): string {
  const id = new URL(endpoint, 'http://x').searchParams.get('sessionId');
  if (id === null) throw new Error(`endpoint ${endpoint} has no sessionId`);
  return id;
}

/** An absolute POST URL from the `endpoint` event's data. */
export function postUrlOf(stream: RawStream, base: string): string {
  if (stream.endpoint === undefined) throw new Error('no endpoint event yet');
  return new URL(stream.endpoint, base).href;
}

export interface PostResult {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  json(): unknown;
}

export interface PostOptions {
  contentType?: string | undefined;
  headers?: Record<string, string>;
  /** Omit Content-Length and send the body chunked. */
  chunked?: boolean;
  agent?: http.Agent | false;
  timeoutMs?: number;
}

/** POSTs a raw body and reads the whole answer. */
export function post(url: string, body: string | Uint8Array, options: PostOptions = {}): Promise<PostResult> {
  const { contentType = 'application/json', chunked = false, agent = false, timeoutMs = 5000 } = options;
  const headers: Record<string, string | number> = { ...options.headers };
  if (contentType !== undefined) headers['Content-Type'] = contentType;
  if (!chunked) headers['Content-Length'] = Buffer.byteLength(body);
  return new Promise<PostResult>((resolve, reject) => {
    const req = http.request(url, { method: 'POST', headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        clearTimeout(timer);
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: () => JSON.parse(text) as unknown });
      });
      res.on('error', reject);
    });
    const timer = setTimeout(() => {
      req.destroy();
      reject(new Error(`POST ${url} timed out`));
    }, timeoutMs);
    req.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    req.end(body);
  });
}

/** POSTs one JSON-RPC message (serialised here). */
export function postJson(url: string, message: unknown, options: PostOptions = {}): Promise<PostResult> {
  return post(url, JSON.stringify(message), options);
}

/** Parses the data of a `message` event. */
export function messageOf(event: SseEvent): Record<string, unknown> {
  return JSON.parse(event.data) as Record<string, unknown>;
}

/** Waits for the JSON-RPC response with `id` on the stream. */
export async function responseFor(stream: RawStream, id: string | number, timeoutMs = 5000): Promise<Record<string, unknown>> {
  const event = await stream.next((e) => e.event === 'message' && messageOf(e).id === id && !('method' in messageOf(e)), timeoutMs);
  return messageOf(event);
}

/** The MCP handshake done by hand: `initialize`, its result, then `notifications/initialized`. */
export async function handshake(stream: RawStream, postUrl: string): Promise<Record<string, unknown>> {
  const accepted = await postJson(postUrl, {
    jsonrpc: '2.0',
    id: 'init',
    method: 'initialize',
    params: { protocolVersion: '2024-11-05', capabilities: {}, clientInfo: { name: 'raw-sse-test', version: '1.0.0' } },
  });
  if (accepted.status !== 202) throw new Error(`initialize got ${accepted.status}: ${accepted.text}`);
  const result = await responseFor(stream, 'init');
  const done = await postJson(postUrl, { jsonrpc: '2.0', method: 'notifications/initialized' });
  if (done.status !== 202) throw new Error(`initialized got ${done.status}: ${done.text}`);
  return result;
}

/** Shape check of the package's JSON-RPC error envelope; returns it typed. */
export interface ErrorEnvelope {
  jsonrpc: '2.0';
  id: string | number | null;
  error: { code: number; message: string; data: { reason: string } };
}

export function isErrorEnvelope(value: unknown): value is ErrorEnvelope {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const v = value as Record<string, unknown>;
  if (Object.keys(v).sort().join() !== 'error,id,jsonrpc' || v.jsonrpc !== '2.0') return false;
  if (!(v.id === null || typeof v.id === 'string' || (typeof v.id === 'number' && Number.isFinite(v.id)))) return false;
  const error = v.error as Record<string, unknown> | null;
  if (typeof error !== 'object' || error === null || Object.keys(error).sort().join() !== 'code,data,message') return false;
  if (!Number.isInteger(error.code) || typeof error.message !== 'string' || error.message === '') return false;
  const data = error.data as Record<string, unknown> | null;
  return typeof data === 'object' && data !== null && typeof data.reason === 'string' && data.reason !== '';
}

/**
 * A `fetch` for the `eventsource` package over node:http, one connection per request, whose TCP connections
 * the test can cut from the client side (as a network drop would) with `cut()`.
 */
export function killableFetch(): { fetch: typeof globalThis.fetch; cut(): number; readonly requests: Record<string, string>[] } {
  const sockets = new Set<Socket>();
  const requests: Record<string, string>[] = [];
  const fetchImpl = (input: string | URL | Request, init: RequestInit = {}): Promise<Response> =>
    new Promise<Response>((resolve, reject) => {
      const headers = Object.fromEntries(new Headers(init.headers).entries());
      requests.push(headers);
      const method = init.method ?? 'GET';
      const req = http.request(String(input instanceof Request ? input.url : input), { method, headers, agent: false }, (res) => {
        const socket = res.socket as Socket;
        sockets.add(socket);
        socket.once('close', () => sockets.delete(socket));
        const responseHeaders = new Headers();
        for (const [name, value] of Object.entries(res.headers)) {
          for (const v of Array.isArray(value) ? value : [value ?? '']) responseHeaders.append(name, v);
        }
        const body = new ReadableStream<Uint8Array>({
          start(controller) {
            res.on('data', (chunk: Buffer) => controller.enqueue(new Uint8Array(chunk)));
            res.on('end', () => controller.close());
            // A cut connection errors the body, which makes EventSource reconnect with Last-Event-ID.
            res.on('error', (error) => controller.error(error));
            res.on('aborted', () => controller.error(new Error('connection cut')));
          },
          cancel() {
            req.destroy();
          },
        });
        resolve(new Response(body, { status: res.statusCode ?? 0, headers: responseHeaders }));
      });
      init.signal?.addEventListener('abort', () => {
        req.destroy();
        reject(new DOMException('aborted', 'AbortError'));
      });
      req.on('error', reject);
      req.end(typeof init.body === 'string' ? init.body : undefined);
    });
  return {
    fetch: fetchImpl as typeof globalThis.fetch,
    cut() {
      const count = sockets.size;
      for (const socket of sockets) socket.destroy();
      return count;
    },
    requests,
  };
}
