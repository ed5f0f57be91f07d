// A router whose 2026-07-28 requests the test holds at every stage (createServer, the tool call), with raw clients
// that can leave at any moment, and a count of every close() on every per-request server.
import type { ServerResponse } from 'node:http';
import { McpServer as McpServerV2 } from '@modelcontextprotocol/server';
import { z } from 'zod';
import type { McpSseError, SessionContext } from '../../../lib/index.js';
import { startHarness, type Harness, type HarnessOptions } from '../../helpers/server.js';

export interface Deferred<T = void> {
  promise: Promise<T>;
  resolve(value: T): void;
  settled: boolean;
}

export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  const d: Deferred<T> = {
    promise,
    settled: false,
    resolve(value: T) {
      d.settled = true;
      resolve(value);
    },
  };
  return d;
}

/** A map of deferreds made on first use, so either side (test or server) may touch a key first. */
export class Signals {
  readonly #slots = new Map<string, Deferred>();
  of(key: string): Deferred {
    let slot = this.#slots.get(key);
    if (slot === undefined) this.#slots.set(key, (slot = deferred()));
    return slot;
  }
  fired(key: string): boolean {
    return this.#slots.get(key)?.settled ?? false;
  }
}

/** One server `createServer()` returned: `closes` counts calls of its `close()`. */
export interface BuiltServer {
  key: string;
  closes: number;
}

/** A 2026-07-28 request as the spec shapes it: version, client info and capabilities in `_meta`, plus headers. */
export function modern(method: string, params: Record<string, unknown> = {}, id: number | string = 1) {
  return {
    body: {
      jsonrpc: '2.0',
      id,
      method,
      params: {
        ...params,
        _meta: {
          ...(params._meta as object | undefined),
          'io.modelcontextprotocol/protocolVersion': '2026-07-28',
          'io.modelcontextprotocol/clientInfo': { name: 'raw', version: '1' },
          'io.modelcontextprotocol/clientCapabilities': {},
        },
      },
    },
    headers: {
      'Content-Type': 'application/json',
      Accept: 'application/json, text/event-stream',
      'MCP-Protocol-Version': '2026-07-28',
      'Mcp-Method': method,
      ...(typeof params.name === 'string' ? { 'Mcp-Name': params.name } : {}),
    } as Record<string, string>,
  };
}

export interface StartOptions {
  /** createServer() waits for `world.releaseCreate(key)`. */
  gate?: boolean;
  /** The tool sends a progress notification first, so the answer is an event stream before the tool returns. */
  progress?: boolean;
}

/** A message read from an event stream, or the JSON body of an answer. */
export type Message = { id?: unknown; method?: string; result?: Record<string, unknown>; error?: { code: number }; params?: Record<string, unknown> };

/** A raw 2026 client request that can be abandoned at any moment. */
export class RawRequest {
  readonly abort = new AbortController();
  readonly messages: Message[] = [];
  /** Resolves with the response head, or `undefined` when the client left first. */
  readonly head: Promise<Response | undefined>;
  /** Resolves when the body ended (or the client left). */
  readonly ended = deferred();
  #waiters: { predicate: (m: Message) => boolean; found: Deferred<Message> }[] = [];

  constructor(url: string, body: unknown, headers: Record<string, string>) {
    this.head = fetch(url, { method: 'POST', headers, body: JSON.stringify(body), signal: this.abort.signal }).then(
      (response) => {
        void this.#read(response);
        return response;
      },
      () => {
        this.ended.resolve();
        return undefined;
      },
    );
  }

  /** Leaves: the connection is torn down, as when a user closes a tab. */
  leave(): void {
    this.abort.abort();
  }

  /** Resolves with the first message (already read or to come) matching `predicate`. */
  next(predicate: (m: Message) => boolean): Promise<Message> {
    const seen = this.messages.find(predicate);
    if (seen !== undefined) return Promise.resolve(seen);
    const found = deferred<Message>();
    this.#waiters.push({ predicate, found });
    return found.promise;
  }

  async #read(response: Response): Promise<void> {
    try {
      if (!(response.headers.get('content-type') ?? '').startsWith('text/event-stream')) {
        const text = await response.text();
        if (text !== '') this.#push(JSON.parse(text) as Message);
        return;
      }
      const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = '';
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        buffer += value;
        let end = buffer.indexOf('\n\n');
        while (end !== -1) {
          const data = buffer
            .slice(0, end)
            .split('\n')
            .filter((line) => line.startsWith('data:'))
            .map((line) => line.slice(5).trimStart())
            .join('\n');
          if (data !== '') this.#push(JSON.parse(data) as Message);
          buffer = buffer.slice(end + 2);
          end = buffer.indexOf('\n\n');
        }
      }
    } catch {
      // The client left.
    } finally {
      this.ended.resolve();
    }
  }

  #push(message: Message): void {
    this.messages.push(message);
    this.#waiters = this.#waiters.filter(({ predicate, found }) => {
      if (!predicate(message)) return true;
      found.resolve(message);
      return false;
    });
  }
}

/**
 * The router under test: `createServer()` builds an SDK v2 server per request, keyed by the request's `x-key`
 * header; it may wait on a gate the test opens; the tool `hold` waits until the test releases it or the request
 * is cancelled. Every server-side response is kept by key, to look at its listeners.
 */
export class StatelessWorld {
  readonly built: BuiltServer[] = [];
  readonly errors: McpSseError[] = [];
  /** createServer() was called for a key. */
  readonly createCalled = new Signals();
  readonly createGates = new Signals();
  readonly toolStarted = new Signals();
  readonly toolAborted = new Signals();
  readonly toolRelease = new Signals();
  /** The server-side response of each key, and a signal when it closed. */
  readonly responses = new Map<string, ServerResponse>();
  readonly responseClosed = new Signals();
  harness!: Harness;

  static async start(options: HarnessOptions = {}): Promise<StatelessWorld> {
    const world = new StatelessWorld();
    world.harness = await startHarness({
      createServer: (session) => world.#createServer(session),
      onError: (error) => void world.errors.push(error),
      ...options,
      before: (app) => {
        app.use((req, res, next) => {
          const key = req.headers['x-key'];
          if (typeof key === 'string') {
            world.responses.set(key, res);
            res.once('close', () => world.responseClosed.of(key).resolve());
          }
          next();
        });
        options.before?.(app);
      },
    });
    return world;
  }

  get url(): string {
    return this.harness.mcpUrl;
  }

  /** Starts a `tools/call` of `hold` (kind `call`) or a `subscriptions/listen` for tools/list_changed (kind `listen`). */
  start(key: string, kind: 'call' | 'listen', options: StartOptions = {}): RawRequest {
    const { body, headers } =
      kind === 'call'
        ? modern('tools/call', { name: 'hold', arguments: { key, progress: options.progress === true }, _meta: { progressToken: key } }, key)
        : modern('subscriptions/listen', { notifications: { toolsListChanged: true } }, key);
    return new RawRequest(this.url, body, { ...headers, 'x-key': key, ...(options.gate ? { 'x-gate': '1' } : {}) });
  }

  releaseCreate(key: string): void {
    this.createGates.of(key).resolve();
  }

  finishTool(key: string): void {
    this.toolRelease.of(key).resolve();
  }

  /** Servers closed other than exactly once. */
  misclosed(): BuiltServer[] {
    return this.built.filter((server) => server.closes !== 1);
  }

  async #createServer(session: SessionContext): Promise<McpServerV2> {
    const key = String(session.headers['x-key'] ?? 'anonymous');
    this.createCalled.of(key).resolve();
    if (session.headers['x-gate'] === '1') await this.createGates.of(key).promise;
    const server = new McpServerV2({ name: 'held', version: '1.0.0' }, { capabilities: { tools: { listChanged: true } } });
    server.registerTool('hold', { inputSchema: z.object({ key: z.string(), progress: z.boolean() }) }, async ({ key, progress }, ctx) => {
      this.toolStarted.of(key).resolve();
      const token = ctx.mcpReq._meta?.progressToken;
      if (progress && token !== undefined)
        await ctx.mcpReq.notify({ method: 'notifications/progress', params: { progressToken: token, progress: 1 } });
      const aborted = new Promise<void>((resolve) => {
        if (ctx.mcpReq.signal.aborted) resolve();
        ctx.mcpReq.signal.addEventListener('abort', () => resolve(), { once: true });
      });
      const how = await Promise.race([this.toolRelease.of(key).promise.then(() => 'released'), aborted.then(() => 'aborted')]);
      if (how === 'aborted') this.toolAborted.of(key).resolve();
      return { content: [{ type: 'text', text: `released ${key}` }] };
    });
    const entry: BuiltServer = { key, closes: 0 };
    this.built.push(entry);
    const close = server.close.bind(server);
    server.close = async () => {
      entry.closes++;
      await close();
    };
    return server;
  }
}
