// The 2026-07-28 era: stateless requests on the Streamable HTTP endpoint, served by the SDK's own handler.
import type { ServerResponse } from 'node:http';
import type { Request as ExpressRequest } from 'express';
import { authInfoOf, principalOf } from '../../auth/principal.js';
import { ErrorCodes, McpSseError } from '../../errors.js';
import { problems, replyError } from '../../http/reply.js';
import { log } from '../../log.js';
import type { ResolvedOptions } from '../../options.js';
import type { Counters } from '../../stats.js';
import type { Telemetry } from '../../telemetry/telemetry.js';
import type { JSONRPCMessage, ServerLike } from '../../types.js';
import { ClientPresence } from './client-presence.js';
import { closeOnce } from './close-once.js';
import { pipeWebResponse } from './pipe-web-response.js';
import { isSdkV2Server, sdkV2Loaders, type McpHandler, type SdkV2 } from './sdk-v2.js';
import { sessionProtocolVersions } from './versions.js';

const logStateless = log.extend('stateless');

/** The `_meta` key whose presence makes a request 2026-era (the header never decides alone). */
export const protocolVersionMetaKey = 'io.modelcontextprotocol/protocolVersion';

/** True when a message claims the 2026-07-28 era: `params._meta` names its protocol version. */
export function isStatelessMessage(message: JSONRPCMessage): boolean {
  const meta = (message.params as { _meta?: unknown } | undefined)?._meta;
  return typeof meta === 'object' && meta !== null && Object.hasOwn(meta, protocolVersionMetaKey);
}

/** The four notifications a `subscriptions/listen` stream carries, as the SDK's server events. */
type ServerEvent =
  | { kind: 'tools_list_changed' | 'prompts_list_changed' | 'resources_list_changed'; params?: Record<string, unknown> }
  | { kind: 'resource_updated'; uri: string };
type Listener = (event: ServerEvent) => void;

function toServerEvent(method: unknown, params: Record<string, unknown> | undefined): ServerEvent | undefined {
  const withParams = <T extends object>(event: T) => (params === undefined ? event : { ...event, params });
  switch (method) {
    case 'notifications/tools/list_changed':
      return withParams({ kind: 'tools_list_changed' as const });
    case 'notifications/prompts/list_changed':
      return withParams({ kind: 'prompts_list_changed' as const });
    case 'notifications/resources/list_changed':
      return withParams({ kind: 'resources_list_changed' as const });
    case 'notifications/resources/updated':
      return typeof params?.uri === 'string' ? { kind: 'resource_updated', uri: params.uri } : undefined;
    default:
      return undefined;
  }
}

/** What the stateless leg needs from the router. */
export interface StatelessContext {
  options: Pick<ResolvedOptions, 'createServer' | 'keepAliveMs' | 'jsonResponse' | 'maxBufferedBytes'>;
  counters: Counters;
  report: (error: McpSseError, context: { req?: ExpressRequest }) => void;
  readonly draining: boolean;
  telemetry?: Telemetry | undefined;
}

/** One request in flight: `settled` resolves once it is over or has become an open listen stream, `done` once it is over. */
interface Exchange {
  settled: Promise<void>;
  done: Promise<void>;
}

/**
 * Serves 2026-era requests: builds the user's server for the request (`sessionId: undefined`), and hands the
 * request, already through the router's chain and body checks, to the SDK's `createMcpHandler()`, which does the
 * protocol work (header checks, `server/discover`, input-required results, `subscriptions/listen`). An SDK v1
 * server cannot speak 2026: the request is answered as a 2025-only server answers it, so clients fall back to
 * `initialize`. The SDK's handler is the public way to switch a server into the 2026 era.
 *
 * Lifecycle: the client's leaving is watched from the first await on (it aborts the Web Request the SDK serves,
 * and cancels the piping); every server `createServer()` returns is closed exactly once when its request ends,
 * however it ends; `close()` lets requests in flight deliver before it ends the listen streams.
 */
export class StatelessLeg {
  readonly #context: StatelessContext;
  /** Open `subscriptions/listen` streams: the SDK subscribes each to this bus, which `broadcast()` feeds. */
  readonly #listeners = new Set<Listener>();
  readonly #bus = {
    publish: (event: ServerEvent) => {
      for (const listener of this.#listeners) listener(event);
    },
    subscribe: (listener: Listener) => {
      this.#listeners.add(listener);
      return () => void this.#listeners.delete(listener);
    },
  };
  /** The server built for each Web Request, handed to the SDK's factory when it asks for it. */
  readonly #servers = new WeakMap<Request, ServerLike>();
  readonly #handlers = new Map<(typeof sdkV2Loaders)[number], Promise<{ sdk: SdkV2; handler: McpHandler } | undefined>>();
  readonly #exchanges = new Set<Exchange>();
  /** Set when `close()` ran out of time: requests still starting are refused, not served. */
  #forced = false;

  constructor(context: StatelessContext) {
    this.#context = context;
  }

  /** Open `subscriptions/listen` streams. */
  get listening(): number {
    return this.#listeners.size;
  }

  /** Offers a serialised notification to every open listen stream (each keeps only the kinds it asked for); returns how many were open. */
  broadcast(json: string): number {
    if (this.#listeners.size === 0) return 0;
    const { method, params } = JSON.parse(json) as { method?: unknown; params?: Record<string, unknown> };
    const event = toServerEvent(method, params);
    if (event === undefined) return 0;
    const count = this.#listeners.size;
    this.#bus.publish(event);
    return count;
  }

  /** Answers one 2026-era request on `res`; never throws, and resolves once the request is over. */
  handle(req: ExpressRequest, res: ServerResponse, message: JSONRPCMessage): Promise<void> {
    if (this.#context.draining) {
      replyError(res, problems.draining(), message.id);
      return Promise.resolve();
    }
    // Watch the client before the first await, so that leaving at any later point is seen.
    const presence = new ClientPresence(res);
    let becameListening = (): void => {};
    const exchange: Exchange = { settled: new Promise((resolve) => (becameListening = resolve)), done: Promise.resolve() };
    exchange.done = this.#serve(req, res, message, presence, () => becameListening())
      .catch((error: unknown) => {
        this.#context.report(new McpSseError(ErrorCodes.request, 'A 2026-07-28 request failed unexpectedly.', { cause: error }), { req });
        if (!presence.gone) replyError(res, problems.internal(), message.id);
      })
      .finally(() => {
        presence.release();
        this.#exchanges.delete(exchange);
        becameListening();
      });
    this.#exchanges.add(exchange);
    return exchange.done;
  }

  /**
   * Drains: requests in flight run to their end and deliver, then listen streams end gracefully (the SDK's closing
   * result) and every server left is closed. New requests are refused by the router's `draining` flag meanwhile.
   * When `deadline` aborts first, whatever is still running is closed at once.
   */
  async close(deadline?: AbortSignal): Promise<void> {
    const force = (): void => {
      this.#forced = true;
      void this.#closeHandlers();
    };
    if (deadline?.aborted) force();
    else deadline?.addEventListener('abort', force, { once: true });
    try {
      await Promise.all([...this.#exchanges].map((exchange) => exchange.settled));
      await this.#closeHandlers();
      await Promise.all([...this.#exchanges].map((exchange) => exchange.done));
    } finally {
      deadline?.removeEventListener('abort', force);
    }
  }

  async #closeHandlers(): Promise<void> {
    for (const pending of this.#handlers.values()) await (await pending)?.handler.close().catch(() => {});
  }

  async #serve(req: ExpressRequest, res: ServerResponse, message: JSONRPCMessage, presence: ClientPresence, listening: () => void): Promise<void> {
    // A client already gone costs no server.
    if (presence.gone) return;
    const protocolVersion = protocolVersionOf(message, req);
    const user = principalOf(req);
    const authInfo = authInfoOf(req);
    let server: ServerLike;
    try {
      server = await this.#context.options.createServer({
        transport: 'streamable-http',
        sessionId: undefined,
        user,
        authInfo,
        headers: req.headers,
        protocolVersion,
        adopted: false,
      });
      if (typeof server?.connect !== 'function') {
        if (typeof server?.close === 'function') void this.#closer(server, req)();
        throw new TypeError('createServer() must return an MCP server (an object with connect(transport)).');
      }
    } catch (error) {
      this.#context.report(new McpSseError(ErrorCodes.createServer, 'createServer() failed for a 2026-07-28 request.', { cause: error }), { req });
      if (!presence.gone) replyError(res, problems.createServerFailed(), message.id);
      return;
    }
    // From here on the server is closed exactly once when the request ends, whatever ends it.
    const close = this.#closer(server, req);
    try {
      await this.#answer(req, res, message, presence, listening, server, authInfo, protocolVersion);
    } finally {
      await close();
    }
  }

  async #answer(
    req: ExpressRequest,
    res: ServerResponse,
    message: JSONRPCMessage,
    presence: ClientPresence,
    listening: () => void,
    server: ServerLike,
    authInfo: ReturnType<typeof authInfoOf>,
    protocolVersion: string,
  ): Promise<void> {
    if (presence.gone) return;
    if (this.#forced) return replyError(res, problems.draining(), message.id);
    const served = await this.#handlerFor(server);
    if (presence.gone) return;
    if (served === undefined) return replyError(res, problems.unsupportedProtocolVersion(protocolVersion, sessionProtocolVersions), message.id);
    if (this.#forced) return replyError(res, problems.draining(), message.id);
    this.#context.counters.statelessRequests++;
    // The SDK sees the client leave through the Web Request's signal, at whatever stage it is.
    const request = toWebRequest(req, presence.signal);
    this.#servers.set(request, server);
    let response: Response;
    const trace = this.#context.telemetry?.request(message, req.headers, protocolVersion);
    try {
      const serve = () => served.handler.fetch(request, authInfo === undefined ? { parsedBody: message } : { parsedBody: message, authInfo });
      response = await (trace === undefined ? serve() : trace.run(serve));
    } catch (error) {
      trace?.end(undefined, error);
      this.#context.report(new McpSseError(ErrorCodes.request, 'The SDK failed to serve a 2026-07-28 request.', { cause: error }), { req });
      if (!presence.gone) replyError(res, problems.internal(), message.id);
      return;
    }
    // 499: the SDK's exchange was closed before it answered; with the client still here, by close() or by the server itself.
    if (response.status === 499 && !presence.gone) {
      trace?.end(499);
      await response.body?.cancel().catch(() => {});
      return replyError(res, this.#forced ? problems.draining() : problems.internal(), message.id);
    }
    if (message.method === 'subscriptions/listen' && (response.headers.get('content-type') ?? '').startsWith('text/event-stream')) listening();
    await pipeWebResponse(response, res, presence, {
      maxBufferedBytes: this.#context.options.maxBufferedBytes,
      onCut: (backlog) => {
        this.#context.counters.slowConsumerCuts++;
        this.#context.report(
          new McpSseError(
            ErrorCodes.slowConsumer,
            `Stream cut: the client stopped reading a 2026-07-28 response with ${backlog} bytes unsent (maxBufferedBytes is ${this.#context.options.maxBufferedBytes}).`,
          ),
          { req },
        );
      },
    });
    trace?.end(response.status);
  }

  /** The server's close(), made idempotent (the SDK closes some servers itself); failures go to `onError`. */
  #closer(server: ServerLike, req: ExpressRequest): () => Promise<void> {
    return closeOnce(server, (error) =>
      this.#context.report(new McpSseError(ErrorCodes.serverClose, 'An MCP server failed to close after its 2026-07-28 request.', { cause: error }), {
        req,
      }),
    );
  }

  /** The SDK copy that can serve this server, or `undefined` (an SDK v1 server, or a copy the router cannot load). */
  async #handlerFor(server: ServerLike): Promise<{ sdk: SdkV2; handler: McpHandler } | undefined> {
    if (!isSdkV2Server(server)) return undefined;
    for (const loader of sdkV2Loaders) {
      const candidate = await this.#handlerFrom(loader);
      if (candidate !== undefined && (server instanceof candidate.sdk.McpServer || server instanceof candidate.sdk.Server)) return candidate;
    }
    this.#context.report(
      new McpSseError(
        ErrorCodes.createServer,
        '2026-07-28 requests need @modelcontextprotocol/server where express-mcp-sse can load it (npm install @modelcontextprotocol/server, one copy): createServer() returned an SDK v2 server from a copy it cannot load, so the request was answered as by a 2025-only server.',
      ),
      {},
    );
    return undefined;
  }

  #handlerFrom(loader: (typeof sdkV2Loaders)[number]): Promise<{ sdk: SdkV2; handler: McpHandler } | undefined> {
    let pending = this.#handlers.get(loader);
    if (pending === undefined) {
      pending = loader().then((sdk) => {
        if (sdk === undefined) return undefined;
        const handler = sdk.createMcpHandler(
          // The SDK asks for the request's server once its own checks passed, with the Request it was given.
          ({ requestInfo }) => this.#servers.get(requestInfo!)!,
          {
            // 2025-era requests never reach this handler: the router serves them with sessions.
            legacy: 'reject',
            bus: this.#bus,
            keepAliveMs: this.#context.options.keepAliveMs,
            ...(this.#context.options.jsonResponse ? { responseMode: 'json' } : {}),
            onerror: (error: Error) => logStateless('SDK handler: %s', error.message),
          },
        );
        return { sdk, handler };
      });
      this.#handlers.set(loader, pending);
    }
    return pending;
  }
}

/** The version a 2026-era request claims: in its `_meta`, else (a malformed envelope the SDK refuses) its header. */
function protocolVersionOf(message: JSONRPCMessage, req: ExpressRequest): string {
  const meta = (message.params as { _meta?: Record<string, unknown> } | undefined)?._meta;
  const claimed = meta?.[protocolVersionMetaKey];
  if (typeof claimed === 'string') return claimed;
  const header = req.headers['mcp-protocol-version'];
  return typeof header === 'string' ? header : 'unknown';
}

/** Node's request as a body-less Web Request (the body travels as `parsedBody`), aborted when the client leaves. */
function toWebRequest(req: ExpressRequest, signal: AbortSignal): Request {
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined) continue;
    try {
      for (const item of Array.isArray(value) ? value : [value]) headers.append(name, item);
    } catch {
      // A value Fetch refuses: the SDK never needs it.
    }
  }
  return new Request(new URL(req.originalUrl, `http://${req.headers.host ?? 'localhost'}`), { method: req.method, headers, signal });
}
