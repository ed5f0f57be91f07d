// CORS and rate limiting: the `cors` and `express-rate-limit` packages, configured for the two MCP routes.
import type { RequestHandler } from 'express';
import cors, { type CorsOptions } from 'cors';
import { rateLimit, ipKeyGenerator, type Options as RateLimitOptions } from 'express-rate-limit';
import { JsonRpcCodes } from '../errors.js';
import { principalKeyOf } from '../auth/principal.js';
import { replyError } from './reply.js';

/** Headers MCP clients send; preflights must allow them. */
const mcpRequestHeaders = ['Content-Type', 'Authorization', 'Mcp-Protocol-Version', 'Last-Event-ID'];
/** Headers browser clients need to read on our error responses. */
const exposedHeaders = ['WWW-Authenticate', 'Retry-After', 'RateLimit', 'RateLimit-Policy'];

/** A `cors` middleware for one route: the user's options over defaults fit for MCP. */
export function corsFor(options: CorsOptions, methods: string[], credentialHeaders: string[]): RequestHandler {
  return cors({
    methods,
    allowedHeaders: [...new Set([...mcpRequestHeaders, ...credentialHeaders])],
    exposedHeaders,
    maxAge: 600,
    ...options,
  });
}

/** An `express-rate-limit` middleware keyed by principal (strategy and id) when authenticated, else by IP (IPv6 /56). */
export function rateLimitFor(options: Partial<RateLimitOptions>, onLimited: () => void): RequestHandler {
  const limitedHandler = options.handler;
  return rateLimit({
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
      replyError(res, {
        status: used.statusCode,
        code: JsonRpcCodes.serverError,
        reason: 'rate_limited',
        message: 'Too many requests; slow down and retry after the time in Retry-After.',
      });
    },
  });
}
