// Options of createMcpSseRouter(): the public interface, its defaults, and validation at creation time.
import type { Request } from 'express';
import type { Options as RateLimitOptions } from 'express-rate-limit';
import type { McpSseError } from './errors.js';
import type { SessionBus } from './bus.js';
import type { CorsOptions } from './http/cors-options.js';
import type { PassportStrategy, ServerLike, SessionContext } from './types.js';

/** Which routes the auth strategies guard. */
export interface AuthEndpoints {
  /** Guard `GET {ssePath}`. Defaults to `true`. */
  sse?: boolean;
  /** Guard `POST {messagesPath}`. Defaults to `true`. */
  messages?: boolean;
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
  /** Path of the event stream. Defaults to `'/sse'`. */
  ssePath?: string;
  /** Path clients POST messages to. Defaults to `'/messages'`. */
  messagesPath?: string;
  /** Silence after which a `: ping` comment is sent. Defaults to `15000` ms. `0` turns keep-alive off. */
  keepAliveMs?: number;
  /** Reconnect delay suggested to clients with `retry:`. Defaults to `5000` ms. */
  retryMs?: number;
  /** Largest accepted POST body, in bytes or as `'4mb'`, `'512kb'`. Defaults to `'4mb'`. */
  maxMessageSize?: number | string;
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
  /** Events kept per session for resuming. Defaults to `128`. */
  replayBufferSize?: number;
  /** Bytes a stream may buffer unsent before it is cut, and the replay buffer's byte cap. Defaults to 4 MiB. */
  maxBufferedBytes?: number;
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
  cors: CorsOptions | false;
  rateLimitSse: Partial<RateLimitOptions> | false;
  rateLimitMessages: Partial<RateLimitOptions> | false;
  ssePath: string;
  messagesPath: string;
  keepAliveMs: number;
  retryMs: number;
  maxMessageSize: number;
  maxSessions: number;
  maxSessionsPerUser: number;
  headers: Readonly<Record<string, string>>;
  allowedHosts: string[] | undefined;
  allowedOrigins: string[] | undefined;
  publicBaseUrl: string | undefined;
  resumeWindowMs: number;
  replayBufferSize: number;
  maxBufferedBytes: number;
  bus: SessionBus | undefined;
  onError: NonNullable<McpSseRouterOptions['onError']> | undefined;
}

const knownKeys = new Set<string>([
  'createServer', 'auth', 'cors', 'rateLimit', 'ssePath', 'messagesPath', 'keepAliveMs', 'retryMs',
  'maxMessageSize', 'maxSessions', 'maxSessionsPerUser', 'headers', 'allowedHosts', 'allowedOrigins',
  'publicBaseUrl', 'resumeWindowMs', 'replayBufferSize', 'maxBufferedBytes', 'bus', 'onError',
]);

/** Applies defaults and validates; throws a `TypeError` naming the option, its value and what was expected. */
export function resolveOptions(options: McpSseRouterOptions): ResolvedOptions {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError(`createMcpSseRouter() needs an options object with createServer, got ${describeValue(options)}.`);
  }
  for (const key of Object.keys(options)) {
    if (!knownKeys.has(key)) throw new TypeError(`Unknown option "${key}". Known options: ${[...knownKeys].join(', ')}.`);
  }
  const o = options;
  if (typeof o.createServer !== 'function') {
    throw new TypeError(`Option "createServer" must be a function (session) => McpServer, got ${describeValue(o.createServer)}.`);
  }
  const auth = resolveAuth(o.auth);
  const rateLimit = resolveRateLimit(o.rateLimit);
  const ssePath = path('ssePath', o.ssePath, '/sse');
  const messagesPath = path('messagesPath', o.messagesPath, '/messages');
  const maxBufferedBytes = positiveInt('maxBufferedBytes', o.maxBufferedBytes, 4 * 1024 * 1024);
  return {
    createServer: o.createServer,
    ...auth,
    cors: plainObjectOrFalse('cors', o.cors, false) as CorsOptions | false,
    ...rateLimit,
    ssePath,
    messagesPath,
    keepAliveMs: nonNegativeInt('keepAliveMs', o.keepAliveMs, 15_000),
    retryMs: nonNegativeInt('retryMs', o.retryMs, 5_000),
    maxMessageSize: size('maxMessageSize', o.maxMessageSize, 4 * 1024 * 1024),
    maxSessions: limit('maxSessions', o.maxSessions),
    maxSessionsPerUser: limit('maxSessionsPerUser', o.maxSessionsPerUser),
    headers: Object.freeze(resolveHeaders(o.headers)),
    allowedHosts: stringList('allowedHosts', o.allowedHosts)?.map((h) => h.toLowerCase()),
    allowedOrigins: stringList('allowedOrigins', o.allowedOrigins)?.map((h) => h.toLowerCase()),
    publicBaseUrl: resolvePublicBaseUrl(o.publicBaseUrl),
    resumeWindowMs: nonNegativeInt('resumeWindowMs', o.resumeWindowMs, 30_000),
    replayBufferSize: nonNegativeInt('replayBufferSize', o.replayBufferSize, 128),
    maxBufferedBytes,
    bus: resolveBus(o.bus),
    onError: optionalFunction('onError', o.onError) as ResolvedOptions['onError'],
  };
}

function resolveAuth(auth: AuthOptions | undefined): Pick<ResolvedOptions, 'strategies' | 'guardSse' | 'guardMessages'> {
  if (auth === undefined) return { strategies: [], guardSse: false, guardMessages: false };
  if (typeof auth !== 'object' || auth === null) {
    throw new TypeError(`Option "auth" must be { strategies, endpoints? }, got ${describeValue(auth)}.`);
  }
  for (const key of Object.keys(auth)) {
    if (key !== 'strategies' && key !== 'endpoints') throw new TypeError(`Unknown option "auth.${key}". Known: strategies, endpoints.`);
  }
  const { strategies, endpoints = {} } = auth;
  if (!Array.isArray(strategies) || strategies.length === 0) {
    throw new TypeError(`Option "auth.strategies" must be a non-empty array of Passport strategies, got ${describeValue(strategies)}.`);
  }
  strategies.forEach((strategy, i) => {
    if (typeof strategy?.authenticate !== 'function') {
      throw new TypeError(`Option "auth.strategies[${i}]" must be a Passport strategy (an object with authenticate()), got ${describeValue(strategy)}.`);
    }
  });
  if (typeof endpoints !== 'object' || endpoints === null) {
    throw new TypeError(`Option "auth.endpoints" must be { sse?, messages? }, got ${describeValue(endpoints)}.`);
  }
  for (const key of Object.keys(endpoints)) {
    if (key !== 'sse' && key !== 'messages') throw new TypeError(`Unknown option "auth.endpoints.${key}". Known: sse, messages.`);
  }
  return {
    strategies: [...strategies],
    guardSse: boolean('auth.endpoints.sse', endpoints.sse, true),
    guardMessages: boolean('auth.endpoints.messages', endpoints.messages, true),
  };
}

function resolveRateLimit(rateLimit: RateLimitRoutes | false | undefined): Pick<ResolvedOptions, 'rateLimitSse' | 'rateLimitMessages'> {
  if (rateLimit === undefined || rateLimit === false) return { rateLimitSse: false, rateLimitMessages: false };
  if (typeof rateLimit !== 'object' || rateLimit === null || Array.isArray(rateLimit)) {
    throw new TypeError(`Option "rateLimit" must be { sse?, messages? } or false, got ${describeValue(rateLimit)}.`);
  }
  for (const key of Object.keys(rateLimit)) {
    if (key !== 'sse' && key !== 'messages') throw new TypeError(`Unknown option "rateLimit.${key}". Known: sse, messages.`);
  }
  return {
    rateLimitSse: plainObjectOrFalse('rateLimit.sse', rateLimit.sse, false) as RouteRateLimit,
    rateLimitMessages: plainObjectOrFalse('rateLimit.messages', rateLimit.messages, false) as RouteRateLimit,
  };
}

function resolveHeaders(headers: Record<string, string> | undefined): Record<string, string> {
  if (headers === undefined) return {};
  if (typeof headers !== 'object' || headers === null || Array.isArray(headers)) {
    throw new TypeError(`Option "headers" must be an object of header names to strings, got ${describeValue(headers)}.`);
  }
  for (const [name, value] of Object.entries(headers)) {
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) throw new TypeError(`Option "headers" has an invalid header name ${JSON.stringify(name)}.`);
    if (typeof value !== 'string' || /[\r\n]/.test(value)) {
      throw new TypeError(`Option "headers.${name}" must be a string without CR or LF, got ${describeValue(value)}.`);
    }
  }
  return { ...headers };
}

function resolvePublicBaseUrl(url: string | undefined): string | undefined {
  if (url === undefined) return undefined;
  if (typeof url !== 'string' || url === '') {
    throw new TypeError(`Option "publicBaseUrl" must be a URL like "https://api.example.com/mcp" or a path like "/mcp", got ${describeValue(url)}.`);
  }
  if (!url.startsWith('/')) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new TypeError(`Option "publicBaseUrl" must be an absolute http(s) URL or a path starting with "/", got ${JSON.stringify(url)}.`);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      throw new TypeError(`Option "publicBaseUrl" must use http or https, got ${JSON.stringify(url)}.`);
    }
  }
  return url.replace(/\/+$/, '');
}

function resolveBus(bus: SessionBus | undefined): SessionBus | undefined {
  if (bus === undefined) return undefined;
  for (const method of ['attach', 'sessionOpened', 'sessionClosed', 'forward', 'publishBroadcast', 'close'] as const) {
    if (typeof (bus as unknown as Record<string, unknown>)?.[method] !== 'function') {
      throw new TypeError(`Option "bus" must implement SessionBus (missing ${method}()), got ${describeValue(bus)}.`);
    }
  }
  return bus;
}

function path(name: string, value: string | undefined, fallback: string): string {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || !/^\/[A-Za-z0-9\-._~!$&'()*+,;=:@/%]*$/.test(value)) {
    throw new TypeError(`Option "${name}" must be a path starting with "/", got ${describeValue(value)}.`);
  }
  return value;
}

function nonNegativeInt(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 0) throw new TypeError(`Option "${name}" must be an integer >= 0, got ${describeValue(value)}.`);
  return value;
}

function positiveInt(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 1) throw new TypeError(`Option "${name}" must be an integer >= 1, got ${describeValue(value)}.`);
  return value;
}

function limit(name: string, value: number | undefined): number {
  if (value === undefined || value === Infinity) return Infinity;
  if (!Number.isSafeInteger(value) || value < 1) throw new TypeError(`Option "${name}" must be an integer >= 1 or Infinity, got ${describeValue(value)}.`);
  return value;
}

const sizeUnits: Record<string, number> = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 };

function size(name: string, value: number | string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value === 'number') return positiveInt(name, value, fallback);
  const match = typeof value === 'string' ? /^\s*(\d+(?:\.\d+)?)\s*(b|kb|mb|gb)?\s*$/i.exec(value) : null;
  const bytes = match ? Math.floor(Number(match[1]) * sizeUnits[(match[2] ?? 'b').toLowerCase()]!) : NaN;
  if (!(bytes >= 1)) throw new TypeError(`Option "${name}" must be a byte count or a size like "4mb", got ${describeValue(value)}.`);
  return bytes;
}

function boolean(name: string, value: boolean | undefined, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw new TypeError(`Option "${name}" must be true or false, got ${describeValue(value)}.`);
  return value;
}

function stringList(name: string, value: string[] | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string' || v === '')) {
    throw new TypeError(`Option "${name}" must be an array of non-empty strings, got ${describeValue(value)}.`);
  }
  return [...value];
}

function plainObjectOrFalse(name: string, value: unknown, fallback: false): object | false {
  if (value === undefined) return fallback;
  if (value === false) return false;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TypeError(`Option "${name}" must be an options object or false, got ${describeValue(value)}.`);
  }
  return value;
}

function optionalFunction(name: string, value: unknown): unknown {
  if (value === undefined) return undefined;
  if (typeof value !== 'function') throw new TypeError(`Option "${name}" must be a function, got ${describeValue(value)}.`);
  return value;
}

/** A short description of a bad option value for error messages. */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'function') return 'a function';
  if (Array.isArray(value)) return 'an array';
  if (value === null) return 'null';
  if (typeof value === 'object') return 'an object';
  return String(value);
}
