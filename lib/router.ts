// createMcpSseRouter(): wires the middleware and the handlers of both transports; owns the registry, ticker and bus.
import express, { type NextFunction, type Request, type RequestHandler, type Response, type Router } from 'express';
import { InMemorySessionBus, type BusNode, type SessionBus } from './bus.js';
import { hintsOf } from './auth/hints.js';
import { createAuthenticate } from './http/authenticate.js';
import { ErrorCodes, McpSseError } from './errors.js';
import { createMessagesHandler } from './transports/http-sse/post-messages.js';
import { deliverToSse } from './transports/http-sse/deliver.js';
import { hostOriginGuard } from './http/host-origin.js';
import { problems, replyError } from './http/reply.js';
import { corsFor, rateLimitFor } from './http/security.js';
import { createSseHandlers } from './transports/http-sse/open-stream.js';
import { createStreamableHandlers } from './transports/streamable-http/handler.js';
import { StatelessLeg } from './transports/streamable-http/stateless.js';
import { adoptedPrefix, privateQueryParameters } from './transports/http-sse/endpoint.js';
import { preParsedIdOf } from './http/body.js';
import { dispatch, type PathChains } from './http/dispatch.js';
import { createWellKnown } from './http/well-known.js';
import { createHealth } from './http/health.js';
import { createTelemetry } from './telemetry/telemetry.js';
import { createReporter } from './report.js';
import { resolveOptions, type McpSseRouterOptions, type ResolvedOptions } from './options.js';
import { SessionRegistry, type SessionTransport } from './transports/session-registry.js';
import { adoptSession, requesterOf } from './transports/adopt-session.js';
import { SSETransport } from './transports/http-sse/transport.js';
import { RelaysInFlight } from './transports/relay-to-owner.js';
import { ReplayBudget } from './session/replay.js';
import { sseHeaders } from './sse/format.js';
import { KeepAliveTicker } from './sse/keep-alive.js';
import type { SessionSettings } from './session/session.js';

/** How long a drained router with a durable bus keeps handing requests for its released sessions on. */
const HAND_ON_GRACE_MS = 2000;

export interface CloseOptions {
  /** Resolve at this deadline even if some server has not finished closing. Defaults to `10000` ms. */
  timeoutMs?: number;
}

/** An Express router serving MCP over HTTP+SSE, with its sessions and a graceful `close()`. */
export interface McpSseRouter extends Router {
  /** The live sessions of this router. */
  readonly sessions: SessionRegistry;
  /** Drains: new streams get 503, open streams get a `retry:` hint and end, every MCP server is closed. */
  close(options?: CloseOptions): Promise<void>;
  /** Middleware for the app root serving RFC 9728 metadata of each `oauthStrategy`'s resource; else a pass-through. */
  readonly wellKnown: RequestHandler;
  /**
   * A request handler for readiness probes: `app.get('/ready', mcp.health)`. Answers `200` with
   * `{ status: 'ok', sessions, bus }` (the numbers of `sessions.stats()`, and the bus's own `stats()` or `null`), and
   * `503` with `status: 'draining'` once `close()` started, or `'bus_unavailable'` while the Redis bus is not
   * connected, so the orchestrator sends no new clients to an instance that cannot serve them.
   */
  readonly health: RequestHandler;
}

/**
 * Creates the router. Mount it anywhere:
 *
 * ```ts
 * const mcp = createMcpSseRouter({ createServer: () => buildMcpServer() });
 * app.use('/mcp', mcp);            // GET /mcp/sse, POST /mcp/messages?sessionId=…
 * mcp.sessions.broadcast({ method: 'notifications/resources/list_changed' });
 * await mcp.close();
 * ```
 */
export function createMcpSseRouter(userOptions: McpSseRouterOptions): McpSseRouter {
  const options = resolveOptions(userOptions);
  const bus: SessionBus = options.bus ?? new InMemorySessionBus();
  const registry = new SessionRegistry(bus, options.maxSessions, options.maxSessionsPerUser);
  const ticker = new KeepAliveTicker(options.keepAliveMs);
  let draining = false;
  /** Draining with a durable bus, sessions released: new requests for them are handed on to another instance. */
  let handingOn = false;

  const report = createReporter({ onError: options.onError });
  const telemetry = createTelemetry(() => registry.stats());

  const settings: SessionSettings = {
    streamHeaders: Object.freeze({ ...sseHeaders, ...options.headers }),
    retryMs: options.retryMs,
    resumeWindowMs: options.resumeWindowMs,
    sessionIdleMs: options.sessionIdleMs,
    replayBufferSize: options.replayBufferSize,
    maxBufferedBytes: options.maxBufferedBytes,
    replayBudget: new ReplayBudget(options.maxReplayBytes, (bytes) => registry.reclaimReplay(bytes)),
    ticker,
    counters: registry.counters,
    lifecycle: registry,
    report: (error, sessionId) => report(error, { sessionId }),
    get draining() {
      return draining;
    },
    telemetry,
    journal: bus.journal,
  };

  const stateless = new StatelessLeg({
    options,
    counters: registry.counters,
    report,
    get draining() {
      return draining;
    },
    telemetry,
  });
  registry.addStatelessTarget(stateless);
  const relays = new RelaysInFlight();
  const streamable = createStreamableHandlers({
    ...options,
    options,
    registry,
    settings,
    report,
    bus,
    stateless,
    relays,
    handingOn: () => handingOn,
  });
  const endpoint = {
    messagesPath: options.messagesPath,
    publicBaseUrl: options.publicBaseUrl,
    privateParams: privateQueryParameters(options.strategies),
  };
  const sse = createSseHandlers({
    options,
    endpoint,
    registry,
    settings,
    report,
    bus,
    maxBufferedBytes: options.maxBufferedBytes,
    relays,
  });
  const busNode: BusNode = {
    ...registry.busNode((error, sessionId) => report(error as McpSseError, { sessionId })),
    deliver: (sessionId, delivery) => deliverToSse(registry, sessionId, delivery, draining),
    serve: (sessionId, request, sink) => {
      if (request.transport === 'sse') return sse.serveRelayed(sessionId, request, sink);
      return options.streamableHttpPath === false ? { result: 'unknown' } : streamable.serveRelayed(sessionId, request, sink);
    },
  };
  Promise.resolve()
    .then(() => bus.attach(busNode))
    .catch((error: unknown) => report(new McpSseError(ErrorCodes.bus, 'The session bus failed to start.', { cause: error }), {}));

  const credentialHeaders = options.strategies.flatMap((s) => hintsOf(s)?.requestHeader ?? []);

  // Each route: Host/Origin guard, CORS, authentication, rate limit, then the handler; each only if configured.
  const guard = hostOriginGuard(options.allowedHosts, options.allowedOrigins);
  const front = (methods: string[]): RequestHandler[] => [
    ...(guard === undefined ? [] : [guard]),
    ...(options.cors === false ? [] : [corsFor(options.cors, methods, credentialHeaders)]),
  ];
  const authenticate = (guarded: boolean): RequestHandler[] =>
    guarded
      ? [
          createAuthenticate({
            strategies: options.strategies,
            onFailure: () => registry.counters.authFailures++,
            report: (error, req) => report(error, { req }),
          }),
        ]
      : [];
  const limit = (routeLimit: ResolvedOptions['rateLimitSse']): RequestHandler[] =>
    routeLimit === false ? [] : [rateLimitFor(routeLimit, () => registry.counters.rateLimited++)];

  const samePath = options.ssePath === options.messagesPath;
  const sseMethods = samePath ? ['GET', 'POST'] : ['GET'];
  const messagesMethods = samePath ? ['GET', 'POST'] : ['POST'];
  const openStream = [...front(sseMethods), ...authenticate(options.guardSse), ...limit(options.rateLimitSse), sse.GET];
  const postMessages = [
    ...front(messagesMethods),
    ...authenticate(options.guardMessages),
    ...limit(options.rateLimitMessages),
    createMessagesHandler({
      ...options,
      registry,
      bus,
      report,
      settings,
      adopt:
        bus.adopt === undefined || bus.journal === undefined
          ? undefined
          : (req, sessionId) =>
              adoptSession({ options, registry, settings, report, bus }, requesterOf(req), { sessionId }, 'sse', (init, stored) => {
                return new SSETransport({ ...init, endpointPrefix: adoptedPrefix(stored.endpoint, init.sessionId, req, endpoint) }, settings);
              }),
    }),
  ];
  // Preflights (when CORS is on) and every other method (HEAD too) get a 4xx before any auth or rate limit,
  // so clients probing transports move on.
  const routes: Record<string, PathChains> = {
    [options.ssePath]: { byMethod: { GET: openStream }, other: [...front(sseMethods), methodNotAllowed(sseMethods.join(', '))] },
  };
  if (samePath) routes[options.ssePath]!.byMethod.POST = postMessages;
  else routes[options.messagesPath] = { byMethod: { POST: postMessages }, other: [...front(messagesMethods), methodNotAllowed('POST')] };
  if (options.streamableHttpPath !== false) {
    const mcpMethods = ['GET', 'POST', 'DELETE'];
    // One limiter for the route, shared by its three method chains: one budget per key whatever the method.
    const mcpLimit = limit(options.rateLimitMcp);
    const chain = (handler: RequestHandler) => [...front(mcpMethods), ...authenticate(options.guardMcp), ...mcpLimit, handler];
    routes[options.streamableHttpPath] = {
      byMethod: { POST: chain(streamable.POST), GET: chain(streamable.GET), DELETE: chain(streamable.DELETE) },
      other: [...front(mcpMethods), methodNotAllowed(mcpMethods.join(', '))],
    };
  }
  const router = express.Router();
  const dispatcher = dispatch(routes);
  router.use(dispatcher);
  skipOwnStack(router, dispatcher);

  let closing: Promise<void> | undefined;
  const close = (closeOptions: CloseOptions = {}): Promise<void> => {
    closing ??= drain(closeOptions.timeoutMs ?? 10_000);
    return closing;
  };
  /**
   * New sessions and requests get 503 from now; requests in flight run to their end and reach their clients (until
   * the deadline); then streams end with a `retry:` hint and every server closes.
   */
  const drain = async (timeoutMs: number): Promise<void> => {
    draining = true;
    let timer: NodeJS.Timeout | undefined;
    // At the deadline, what still runs is closed at once (the stateless leg's requests in flight too).
    const expired = new AbortController();
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        expired.abort();
        resolve();
      }, timeoutMs);
      timer.unref();
    });
    try {
      const journal = bus.journal;
      if (journal === undefined) {
        await Promise.race([Promise.all([...registry].map((session) => session.whenSettled())), deadline]);
      } else {
        // A durable bus hands the sessions over: released at once (new requests for them go to another instance,
        // which adopts them), each one's streams end with a retry hint once its requests in flight are answered.
        await Promise.race([Promise.all([...registry].map((session) => journal.release(session.sessionId))), deadline]);
        handingOn = true;
        const handOver = async (session: SessionTransport): Promise<void> => {
          await session.whenSettled();
          session.endStreams(options.retryMs);
          await session.closeSession();
        };
        await Promise.race([Promise.all([...registry].map(handOver)), deadline]);
      }
      for (const session of registry) session.endStreams(options.retryMs);
      // Answers relayed from other instances to requests in flight here reach their clients; relayed streams end.
      relays.endStreams(options.retryMs);
      await Promise.race([relays.settled(), deadline]);
      const closeBus = (): Promise<void> =>
        bus.close().catch((error: unknown) => report(new McpSseError(ErrorCodes.bus, 'Closing the session bus failed.', { cause: error }), {}));
      const done = Promise.all([registry.closeAll(), stateless.close(expired.signal)]).then(() => {
        if (bus.journal === undefined) return closeBus();
        // Requests for the released sessions keep arriving until the app closes its HTTP server: the bus stays open
        // a little longer to hand them on to the instances that adopt them, and until their answers got through.
        setTimeout(() => {
          relays.endStreams(options.retryMs);
          const answered = relays.settled();
          const bound = new Promise<void>((resolve) => setTimeout(resolve, timeoutMs).unref());
          void Promise.race([answered, bound]).then(closeBus);
        }, HAND_ON_GRACE_MS);
        return undefined;
      });
      await Promise.race([done, deadline]);
    } finally {
      clearTimeout(timer);
      ticker.stop();
    }
  };

  const wellKnown = createWellKnown(options.strategies);
  const health = createHealth({ stats: () => registry.stats(), bus, isDraining: () => draining });
  return Object.assign(router, { sessions: registry, close, wellKnown, health }) as McpSseRouter;
}

/**
 * While the router holds only its dispatcher, a request goes straight to it: Express's Router would run its own
 * layer stack first (URL parsing, a path match against `/`, saving and restoring `req.baseUrl`, `req.next` and
 * `req.params`), on every POST, to reach the one middleware it holds. The app's router has set all of those already
 * when it calls a mounted router. Anything the app adds (`mcp.use(…)`), or a call from outside an Express app, takes
 * Express's way as before.
 */
function skipOwnStack(router: Router, dispatcher: RequestHandler): void {
  type Handle = (req: Request, res: Response, next: NextFunction) => void;
  const own = router as unknown as { handle: Handle; stack: unknown[] };
  const handle = own.handle.bind(router);
  const { stack } = own;
  own.handle = (req, res, next) => {
    // Express's router sets `req.baseUrl` and `req.originalUrl` together: one says it ran. `originalUrl`, as Express
    // itself just read it, so V8 has that lookup cached for this request object.
    if (stack.length !== 1 || req.originalUrl === undefined) return handle(req, res, next);
    dispatcher(req, res, next);
  };
}

function methodNotAllowed(allow: string): RequestHandler {
  return (req: Request, res) => {
    if (req.method === 'OPTIONS') {
      res.writeHead(204, { Allow: `${allow}, OPTIONS` }).end();
      return;
    }
    replyError(res, problems.methodNotAllowed(allow), preParsedIdOf(req));
  };
}
