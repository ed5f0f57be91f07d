// The 2026-07-28 era: stateless requests on the Streamable HTTP endpoint, served by the SDK's own handler.
import { once } from 'node:events';
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
  options: Pick<ResolvedOptions, 'createServer' | 'keepAliveMs' | 'jsonResponse'>;
  counters: Counters;
  report: (error: McpSseError, context: { req?: ExpressRequest }) => void;
  readonly draining: boolean;
  telemetry?: Telemetry | undefined;
}

/**
 * Serves 2026-era requests: builds the user's server for the request (`sessionId: undefined`), and hands the
 * request, already through the router's chain and body checks, to the SDK's `createMcpHandler()`, which does the
 * protocol work (header checks, `server/discover`, input-required results, `subscriptions/listen`). An SDK v1
 * server cannot speak 2026: the request is answered as a 2025-only server answers it, so clients fall back to
 * `initialize`. The SDK's handler is the public way to switch a server into the 2026 era.
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
  readonly #servers = new WeakMap<Request, { server: ServerLike; taken: boolean }>();
  readonly #handlers = new Map<(typeof sdkV2Loaders)[number], Promise<{ sdk: SdkV2; handler: McpHandler } | undefined>>();

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

  /** Answers one 2026-era request on `res`; never throws. */
  async handle(req: ExpressRequest, res: ServerResponse, message: JSONRPCMessage): Promise<void> {
    if (this.#context.draining) return replyError(res, problems.draining(), message.id);
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
      });
      if (typeof server?.connect !== 'function') throw new TypeError('createServer() must return an MCP server (an object with connect(transport)).');
    } catch (error) {
      this.#context.report(new McpSseError(ErrorCodes.createServer, 'createServer() failed for a 2026-07-28 request.', { cause: error }), { req });
      return replyError(res, problems.createServerFailed(), message.id);
    }
    const served = await this.#handlerFor(server);
    if (served === undefined) {
      void closeQuietly(server);
      return replyError(res, problems.unsupportedProtocolVersion(protocolVersion, sessionProtocolVersions), message.id);
    }
    this.#context.counters.statelessRequests++;
    const abort = new AbortController();
    const request = toWebRequest(req, abort.signal);
    const entry = { server, taken: false };
    this.#servers.set(request, entry);
    let response: Response;
    const trace = this.#context.telemetry?.request(message, req.headers, protocolVersion);
    try {
      const serve = () => served.handler.fetch(request, authInfo === undefined ? { parsedBody: message } : { parsedBody: message, authInfo });
      response = await (trace === undefined ? serve() : trace.run(serve));
    } catch (error) {
      trace?.end(undefined, error);
      this.#context.report(new McpSseError(ErrorCodes.request, 'The SDK failed to serve a 2026-07-28 request.', { cause: error }), { req });
      if (!entry.taken) void closeQuietly(server);
      return replyError(res, problems.internal(), message.id);
    }
    // Refused by the SDK's checks before it asked for the server (-32020, -32021, -32022…): it was never used.
    if (!entry.taken) void closeQuietly(server);
    await pipe(response, res, () => abort.abort());
    trace?.end(response.status);
  }

  /** Ends every listen stream gracefully and closes the servers of requests in flight. */
  async close(): Promise<void> {
    for (const pending of this.#handlers.values()) await (await pending)?.handler.close().catch(() => {});
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
          ({ requestInfo }) => {
            const entry = this.#servers.get(requestInfo!)!;
            entry.taken = true;
            return entry.server;
          },
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

async function closeQuietly(server: ServerLike): Promise<void> {
  try {
    await server.close?.();
  } catch {
    // The request is already answered; a server that fails to close has nothing left to tell the client.
  }
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

/** Copies a Web Response to Node's response with back-pressure; stops reading when the client goes away. */
async function pipe(response: Response, res: ServerResponse, clientGone: () => void): Promise<void> {
  const streaming = (response.headers.get('content-type') ?? '').startsWith('text/event-stream');
  if (streaming) {
    res.setTimeout(0);
    res.socket?.setNoDelay(true);
  }
  res.writeHead(response.status, Object.fromEntries(response.headers));
  if (response.body === null) return void res.end();
  const reader = response.body.getReader();
  res.once('close', () => {
    if (res.writableFinished) return;
    clientGone();
    reader.cancel().catch(() => {});
  });
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      const flushed = res.write(value);
      (res as ServerResponse & { flush?: () => void }).flush?.();
      if (!flushed) await Promise.race([once(res, 'drain'), once(res, 'close')]);
      if (res.destroyed) return;
    }
    res.end();
  } catch {
    res.destroy();
  }
}
