// Options of createMcpSseRouter(): the public interface, its defaults, and validation at creation time.
import type { Request } from 'express';
import type { Options as RateLimitOptions } from 'express-rate-limit';
import { optionError, type McpSseError } from './errors.js';
import {
  boolean,
  describeValue,
  limit,
  nonNegativeInt,
  optionalFunction,
  path,
  plainObjectOrFalse,
  positiveInt,
  size,
  stringList,
  timerMs,
  maxTimerMs,
} from './validate.js';
import type { SessionBus } from './bus.js';
import type { CorsOptions } from './http/cors-options.js';
import type { PassportStrategy, ServerLike, SessionContext } from './types.js';

/** Which routes the auth strategies guard. */
export interface AuthEndpoints {
  /** Guard `GET {ssePath}`. Defaults to `true`. */
  sse?: boolean;
  /** Guard `POST {messagesPath}`. Defaults to `true`. */
  messages?: boolean;
  /** Guard the Streamable HTTP endpoint (`POST`/`GET`/`DELETE {streamableHttpPath}`). Defaults to `true`. */
  mcp?: boolean;
}

export interface AuthOptions {
  /** Passport strategies, tried in order; the first success wins. */
  strategies: PassportStrategy[];
  /** Per-route toggles. Defaults to both routes guarded. */
  endpoints?: AuthEndpoints;
}

/** `express-rate-limit` options for one route (`windowMs`, `limit`, …), or `false` for none. */
export type RouteRateLimit = Partial<RateLimitOptions> | false;

export interface RateLimitRoutes {
  /** Limit on opening streams. Defaults to none. */
  sse?: RouteRateLimit;
  /** Limit on posted messages. Defaults to none. */
  messages?: RouteRateLimit;
  /** Limit on requests to the Streamable HTTP endpoint. Defaults to none. */
  mcp?: RouteRateLimit;
}

/** Context given to `onError` with every reported error. */
export interface ErrorContext {
  sessionId?: string;
  req?: Request;
}

export interface McpSseRouterOptions {
  /** Builds the MCP server of one session; sync or async. Required. */
  createServer: (session: SessionContext) => ServerLike | Promise<ServerLike>;
  /** Passport strategies guarding the routes. Defaults to none (anonymous sessions). */
  auth?: AuthOptions;
  /** Options of the `cors` package, or `false`. Defaults to `false`: no CORS headers at all. */
  cors?: CorsOptions | false;
  /** `express-rate-limit` options per route, or `false`. Defaults to `false`. */
  rateLimit?: RateLimitRoutes | false;
  /**
   * Path of the Streamable HTTP endpoint (protocol 2025-03-26 and later) under the mount point. Defaults to `'/'`:
   * `app.use('/mcp', router)` serves it at `/mcp`. `false` turns the transport off.
   */
  streamableHttpPath?: string | false;
  /**
   * Answer Streamable HTTP requests with one `application/json` body instead of an event stream. Defaults to
   * `false`. For deployments that cannot stream: notifications about a request (progress, logging) are dropped.
   */
  jsonResponse?: boolean;
  /**
   * A Streamable HTTP session with no request in flight and no open stream is closed after this long, so clients
   * that never send `DELETE` do not leak servers. Defaults to `600000` ms. `0` keeps such sessions forever.
   */
  sessionIdleMs?: number;
  /** Path of the HTTP+SSE event stream. Defaults to `'/sse'`. */
  ssePath?: string;
  /** Path clients POST messages to. Defaults to `'/messages'`. */
  messagesPath?: string;
  /** Silence after which a `: ping` comment is sent. Defaults to `15000` ms. `0` turns keep-alive off. */
  keepAliveMs?: number;
  /** Reconnect delay suggested to clients with `retry:`. Defaults to `5000` ms. */
  retryMs?: number;
  /**
   * Largest accepted POST body, in bytes or as `'4mb'`, `'512kb'`: the decompressed bytes of a raw body, or the
   * compact JSON of one an app-level `express.json()` parsed. Defaults to `'4mb'`.
   */
  maxMessageSize?: number | string;
  /** Most messages in one JSON-RPC batch; a longer batch gets 400 and none of it is delivered. Defaults to `100`. */
  maxBatchSize?: number;
  /**
   * Time a POST body may take to arrive once the router starts reading it; then 408 and the connection closes.
   * Defaults to 5 s plus the time `maxMessageSize` takes at 1 Mbit/s (39 s for 4 MiB, 6 s for 64 KiB). `0`
   * leaves it to Node's `server.requestTimeout`. Bodies an app-level `express.json()` read are out of its reach.
   */
  bodyTimeoutMs?: number;
  /** Sessions this instance holds at once (attached and detached). Defaults to `Infinity`. */
  maxSessions?: number;
  /** Sessions one principal holds at once. Defaults to `Infinity`. */
  maxSessionsPerUser?: number;
  /** Extra headers on every event stream response. Defaults to `{}`. */
  headers?: Record<string, string>;
  /** Accepted `Host` headers (`'localhost'` matches any port, `'localhost:3000'` one). Defaults to any host. */
  allowedHosts?: string[];
  /** Accepted `Origin` headers; requests without `Origin` pass. Defaults to any origin. */
  allowedOrigins?: string[];
  /** Base URL (absolute or a path) the `endpoint` event uses instead of the mount prefix. Defaults to the mount prefix. */
  publicBaseUrl?: string;
  /** How long a dropped stream's session waits to be resumed. Defaults to `30000` ms. `0` closes it at once. */
  resumeWindowMs?: number;
  /** Events kept per stream for resuming. Defaults to `128`. */
  replayBufferSize?: number;
  /** Bytes a stream may buffer unsent before it is cut, and each stream's replay byte cap. Defaults to 4 MiB. */
  maxBufferedBytes?: number;
  /**
   * Bytes all replay buffers of this router may hold together; past it the oldest idle sessions' buffers shrink
   * first. Defaults to 256 MiB.
   */
  maxReplayBytes?: number;
  /** Cross-session delivery. Defaults to an in-memory bus (one process). */
  bus?: SessionBus;
  /** Receives every error the package reports. Defaults to logging through `debug`. */
  onError?: (error: McpSseError, context: ErrorContext) => void;
}

/** The options with every default applied. */
export interface ResolvedOptions {
  createServer: McpSseRouterOptions['createServer'];
  strategies: PassportStrategy[];
  guardSse: boolean;
  guardMessages: boolean;
  guardMcp: boolean;
  cors: CorsOptions | false;
  rateLimitSse: Partial<RateLimitOptions> | false;
  rateLimitMessages: Partial<RateLimitOptions> | false;
  rateLimitMcp: Partial<RateLimitOptions> | false;
  streamableHttpPath: string | false;
  jsonResponse: boolean;
  sessionIdleMs: number;
  ssePath: string;
  messagesPath: string;
  keepAliveMs: number;
  retryMs: number;
  maxMessageSize: number;
  maxBatchSize: number;
  bodyTimeoutMs: number;
  maxSessions: number;
  maxSessionsPerUser: number;
  headers: Readonly<Record<string, string>>;
  allowedHosts: string[] | undefined;
  allowedOrigins: string[] | undefined;
  publicBaseUrl: string | undefined;
  resumeWindowMs: number;
  replayBufferSize: number;
  maxBufferedBytes: number;
  maxReplayBytes: number;
  bus: SessionBus | undefined;
  onError: NonNullable<McpSseRouterOptions['onError']> | undefined;
}

const knownKeys = new Set<string>([
  'createServer',
  'auth',
  'cors',
  'rateLimit',
  'streamableHttpPath',
  'jsonResponse',
  'sessionIdleMs',
  'ssePath',
  'messagesPath',
  'keepAliveMs',
  'retryMs',
  'maxMessageSize',
  'maxBatchSize',
  'bodyTimeoutMs',
  'maxSessions',
  'maxSessionsPerUser',
  'headers',
  'allowedHosts',
  'allowedOrigins',
  'publicBaseUrl',
  'resumeWindowMs',
  'replayBufferSize',
  'maxBufferedBytes',
  'maxReplayBytes',
  'bus',
  'onError',
]);

/** Applies defaults and validates; throws a `TypeError` naming the option, its value and what was expected. */
export function resolveOptions(options: McpSseRouterOptions): ResolvedOptions {
  if (typeof options !== 'object' || options === null) {
    throw optionError(`createMcpSseRouter() needs an options object with createServer, got ${describeValue(options)}.`);
  }
  for (const key of Object.keys(options)) {
    if (!knownKeys.has(key)) throw optionError(`Unknown option "${key}". Known options: ${[...knownKeys].join(', ')}.`);
  }
  const o = options;
  if (typeof o.createServer !== 'function') {
    throw optionError(`Option "createServer" must be a function (session) => McpServer, got ${describeValue(o.createServer)}.`);
  }
  const auth = resolveAuth(o.auth);
  const rateLimit = resolveRateLimit(o.rateLimit);
  const ssePath = path('ssePath', o.ssePath, '/sse');
  const messagesPath = path('messagesPath', o.messagesPath, '/messages');
  const streamableHttpPath = o.streamableHttpPath === false ? false : path('streamableHttpPath', o.streamableHttpPath, '/');
  if (streamableHttpPath !== false && (samePath(streamableHttpPath, ssePath) || samePath(streamableHttpPath, messagesPath))) {
    throw optionError(`Option "streamableHttpPath" must differ from "ssePath" and "messagesPath", got ${describeValue(streamableHttpPath)}.`);
  }
  const maxBufferedBytes = positiveInt('maxBufferedBytes', o.maxBufferedBytes, 4 * 1024 * 1024);
  const maxMessageSize = size('maxMessageSize', o.maxMessageSize, 4 * 1024 * 1024);
  return {
    createServer: o.createServer,
    ...auth,
    cors: plainObjectOrFalse('cors', o.cors, false) as CorsOptions | false,
    ...rateLimit,
    streamableHttpPath,
    jsonResponse: boolean('jsonResponse', o.jsonResponse, false),
    sessionIdleMs: nonNegativeInt('sessionIdleMs', o.sessionIdleMs, 600_000),
    ssePath,
    messagesPath,
    keepAliveMs: nonNegativeInt('keepAliveMs', o.keepAliveMs, 15_000),
    retryMs: nonNegativeInt('retryMs', o.retryMs, 5_000),
    maxMessageSize,
    maxBatchSize: positiveInt('maxBatchSize', o.maxBatchSize, 100),
    bodyTimeoutMs: timerMs('bodyTimeoutMs', o.bodyTimeoutMs, defaultBodyTimeoutMs(maxMessageSize)),
    maxSessions: limit('maxSessions', o.maxSessions),
    maxSessionsPerUser: limit('maxSessionsPerUser', o.maxSessionsPerUser),
    headers: Object.freeze(resolveHeaders(o.headers)),
    allowedHosts: stringList('allowedHosts', o.allowedHosts)?.map((h) => h.toLowerCase()),
    allowedOrigins: stringList('allowedOrigins', o.allowedOrigins)?.map((h) => h.toLowerCase()),
    publicBaseUrl: resolvePublicBaseUrl(o.publicBaseUrl),
    resumeWindowMs: nonNegativeInt('resumeWindowMs', o.resumeWindowMs, 30_000),
    replayBufferSize: nonNegativeInt('replayBufferSize', o.replayBufferSize, 128),
    maxBufferedBytes,
    maxReplayBytes: positiveInt('maxReplayBytes', o.maxReplayBytes, 256 * 1024 * 1024),
    bus: resolveBus(o.bus),
    onError: optionalFunction('onError', o.onError) as ResolvedOptions['onError'],
  };
}

/**
 * 5 s of grace plus `maxMessageSize` at 1 Mbit/s (125 bytes per ms, a poor mobile uplink), rounded up to whole
 * seconds: a legitimate body near the limit arrives in time on a slow link; a trickle is cut well before
 * Node's 300 s `requestTimeout`.
 */
export function defaultBodyTimeoutMs(maxMessageSize: number): number {
  return Math.min(Math.ceil((5_000 + maxMessageSize / 125) / 1_000) * 1_000, maxTimerMs);
}

function resolveAuth(auth: AuthOptions | undefined): Pick<ResolvedOptions, 'strategies' | 'guardSse' | 'guardMessages' | 'guardMcp'> {
  if (auth === undefined) return { strategies: [], guardSse: false, guardMessages: false, guardMcp: false };
  if (typeof auth !== 'object' || auth === null) {
    throw optionError(`Option "auth" must be { strategies, endpoints? }, got ${describeValue(auth)}.`);
  }
  // `auth: apiKeyStrategy(…)` or `auth: [strategy]`: say how to wrap it, not which internal property was unexpected.
  if (Array.isArray(auth) || typeof (auth as { authenticate?: unknown }).authenticate === 'function') {
    const what = Array.isArray(auth) ? 'an array' : 'a Passport strategy';
    throw optionError(`Option "auth" must be { strategies: [...] }, got ${what}. Write auth: { strategies: [yourStrategy] }.`);
  }
  for (const key of Object.keys(auth)) {
    if (key !== 'strategies' && key !== 'endpoints') throw optionError(`Unknown option "auth.${key}". Known: strategies, endpoints.`);
  }
  const { strategies, endpoints = {} } = auth;
  if (!Array.isArray(strategies) || strategies.length === 0) {
    throw optionError(`Option "auth.strategies" must be a non-empty array of Passport strategies, got ${describeValue(strategies)}.`);
  }
  strategies.forEach((strategy, i) => {
    if (typeof strategy?.authenticate !== 'function') {
      throw optionError(
        `Option "auth.strategies[${i}]" must be a Passport strategy (an object with authenticate()), got ${describeValue(strategy)}.`,
      );
    }
  });
  if (typeof endpoints !== 'object' || endpoints === null) {
    throw optionError(`Option "auth.endpoints" must be { sse?, messages?, mcp? }, got ${describeValue(endpoints)}.`);
  }
  for (const key of Object.keys(endpoints)) {
    if (!routeKeys.includes(key)) throw optionError(`Unknown option "auth.endpoints.${key}". Known: ${routeKeys.join(', ')}.`);
  }
  return {
    strategies: [...strategies],
    guardSse: boolean('auth.endpoints.sse', endpoints.sse, true),
    guardMessages: boolean('auth.endpoints.messages', endpoints.messages, true),
    guardMcp: boolean('auth.endpoints.mcp', endpoints.mcp, true),
  };
}

/** The routes `auth.endpoints` and `rateLimit` name. */
const routeKeys = ['sse', 'messages', 'mcp'];

function resolveRateLimit(
  rateLimit: RateLimitRoutes | false | undefined,
): Pick<ResolvedOptions, 'rateLimitSse' | 'rateLimitMessages' | 'rateLimitMcp'> {
  if (rateLimit === undefined || rateLimit === false) return { rateLimitSse: false, rateLimitMessages: false, rateLimitMcp: false };
  if (typeof rateLimit !== 'object' || rateLimit === null || Array.isArray(rateLimit)) {
    throw optionError(`Option "rateLimit" must be { sse?, messages?, mcp? } or false, got ${describeValue(rateLimit)}.`);
  }
  for (const key of Object.keys(rateLimit)) {
    if (!routeKeys.includes(key)) throw optionError(`Unknown option "rateLimit.${key}". Known: ${routeKeys.join(', ')}.`);
  }
  return {
    rateLimitSse: plainObjectOrFalse('rateLimit.sse', rateLimit.sse, false) as RouteRateLimit,
    rateLimitMessages: plainObjectOrFalse('rateLimit.messages', rateLimit.messages, false) as RouteRateLimit,
    rateLimitMcp: plainObjectOrFalse('rateLimit.mcp', rateLimit.mcp, false) as RouteRateLimit,
  };
}

/** Express matches paths case-insensitively and ignores a trailing slash. */
function samePath(a: string, b: string): boolean {
  const normal = (p: string) => (p.length > 1 ? p.replace(/\/+$/, '') : p).toLowerCase();
  return normal(a) === normal(b);
}

function resolveHeaders(headers: Record<string, string> | undefined): Record<string, string> {
  if (headers === undefined) return {};
  if (typeof headers !== 'object' || headers === null || Array.isArray(headers)) {
    throw optionError(`Option "headers" must be an object of header names to strings, got ${describeValue(headers)}.`);
  }
  for (const [name, value] of Object.entries(headers)) {
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) throw optionError(`Option "headers" has an invalid header name ${JSON.stringify(name)}.`);
    if (typeof value !== 'string' || /[\r\n]/.test(value)) {
      throw optionError(`Option "headers.${name}" must be a string without CR or LF, got ${describeValue(value)}.`);
    }
  }
  return { ...headers };
}

function resolvePublicBaseUrl(url: string | undefined): string | undefined {
  if (url === undefined) return undefined;
  if (typeof url !== 'string' || url === '') {
    throw optionError(`Option "publicBaseUrl" must be a URL like "https://api.example.com/mcp" or a path like "/mcp", got ${describeValue(url)}.`);
  }
  if (!url.startsWith('/')) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw optionError(`Option "publicBaseUrl" must be an absolute http(s) URL or a path starting with "/", got ${JSON.stringify(url)}.`);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      throw optionError(`Option "publicBaseUrl" must use http or https, got ${JSON.stringify(url)}.`);
    }
  }
  return url.replace(/\/+$/, '');
}

function resolveBus(bus: SessionBus | undefined): SessionBus | undefined {
  if (bus === undefined) return undefined;
  for (const method of ['attach', 'sessionOpened', 'sessionClosed', 'forward', 'publishBroadcast', 'close'] as const) {
    if (typeof (bus as unknown as Record<string, unknown>)?.[method] !== 'function') {
      throw optionError(`Option "bus" must implement SessionBus (missing ${method}()), got ${describeValue(bus)}.`);
    }
  }
  return bus;
}
