// CORS and rate limiting: the `cors` and `express-rate-limit` packages, configured for the two MCP routes.
import type { RequestHandler } from 'express';
import cors, { type CorsOptions } from 'cors';
import { rateLimit, ipKeyGenerator, type Options as RateLimitOptions } from 'express-rate-limit';
import { principalKeyOf } from '../auth/principal.js';
import { catchLateErrors, problems, replyError } from './reply.js';

/** Headers MCP clients send; preflights must allow them. */
const mcpRequestHeaders = [
  'Content-Type',
  'Accept',
  'Authorization',
  'Mcp-Session-Id',
  'Mcp-Protocol-Version',
  'Last-Event-ID',
  'Mcp-Method',
  'Mcp-Name',
];
/** Headers browser clients need to read: the session id, and those of our error responses. */
const mcpExposedHeaders = ['Mcp-Session-Id', 'WWW-Authenticate', 'Retry-After', 'RateLimit', 'RateLimit-Policy'];

/**
 * A `cors` middleware for one route: the user's options over defaults fit for MCP. The MCP headers are always
 * added to the user's allowed and exposed lists, since clients break without them.
 */
export function corsFor(options: CorsOptions, methods: string[], credentialHeaders: string[]): RequestHandler {
  return cors({
    methods,
    maxAge: 600,
    ...options,
    allowedHeaders: union(mcpRequestHeaders, credentialHeaders, options.allowedHeaders),
    exposedHeaders: union(mcpExposedHeaders, options.exposedHeaders),
  });
}

/** Header lists as `cors` takes them (an array or a comma-separated string), merged without duplicates. */
function union(...lists: (string | string[] | undefined)[]): string[] {
  const names = lists
    .flatMap((list) => (typeof list === 'string' ? list.split(',') : (list ?? [])))
    .map((name) => name.trim())
    .filter(Boolean);
  const seen = new Map<string, string>();
  for (const name of names) if (!seen.has(name.toLowerCase())) seen.set(name.toLowerCase(), name);
  return [...seen.values()];
}

/** An `express-rate-limit` middleware keyed by principal (strategy and id) when authenticated, else by IP (IPv6 /56). */
export function rateLimitFor(options: Partial<RateLimitOptions>, onLimited: () => void): RequestHandler {
  const limitedHandler = options.handler;
  const limiter = rateLimit({
    standardHeaders: 'draft-7',
    legacyHeaders: false,
    keyGenerator: (req) => {
      const principal = principalKeyOf(req);
      return principal !== undefined ? `user:${principal}` : `ip:${ipKeyGenerator(req.ip ?? '')}`;
    },
    ...options,
    handler: (req, res, next, used) => {
      onLimited();
      if (limitedHandler !== undefined) return limitedHandler(req, res, next, used);
      replyError(res, problems.rateLimited(used.statusCode));
    },
  });
  // The app's own functions among the options (handler, keyGenerator, skip, …) are handed the response: one that
  // writes to it after its end would end the process, so their requests' responses get a listener. The router's
  // own code, cors and express-rate-limit never write after the end.
  const handsResponseToApp = Object.values(options).some((value) => typeof value === 'function');
  if (!handsResponseToApp) return limiter;
  return (req, res, next) => {
    catchLateErrors(res);
    return limiter(req, res, next);
  };
}
