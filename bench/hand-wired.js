// bench/hand-wired.js: the secured path as a user wires it by hand around the SDK's transports, with the same
// libraries and settings the -secured package contenders use: passport-headerapikey, cors and express-rate-limit.
import { createHash, timingSafeEqual } from 'node:crypto';
import cors from 'cors';
import { ipKeyGenerator, rateLimit } from 'express-rate-limit';
import { Passport } from 'passport';
import { HeaderAPIKeyStrategy } from 'passport-headerapikey';

/** The key every secured contender accepts (sent as `X-API-Key` by the load clients). */
export const BENCH_KEY = 'bench-key-0123456789';

const sha256 = (value) => createHash('sha256').update(value).digest();

/**
 * The guards the -secured contenders (package and hand-wired) put in front: all three unless BENCH_SECURED_PARTS
 * (diagnosis only: e.g. `auth` or `cors,rate`) keeps just some of them.
 */
export function securedParts() {
  return (process.env.BENCH_SECURED_PARTS ?? 'auth,cors,rate').split(',');
}

/**
 * `{ cors, auth, limiter, chain }`: a `cors` middleware for `methods` (origin `http://example.test`, the MCP headers
 * allowed and exposed), Passport's `authenticate()` over passport-headerapikey with the key compared as the package's
 * `apiKeyStrategy` does (SHA-256 digests, constant time), and `limiter()` making one `express-rate-limit` per route
 * (limit 1e9 per minute, draft-7 headers, keyed by principal: the package's settings), and `chain(route)` listing the
 * ones BENCH_SECURED_PARTS keeps, in the package's order.
 */
export function handWiredGuards(methods) {
  const passport = new Passport();
  const digest = sha256(BENCH_KEY);
  passport.use(
    new HeaderAPIKeyStrategy({ header: 'X-API-Key', prefix: '' }, false, (key, done) =>
      done(null, timingSafeEqual(sha256(key), digest) ? { id: 'bench' } : false),
    ),
  );
  const guards = {
    cors: cors({
      origin: ['http://example.test'],
      methods,
      maxAge: 600,
      allowedHeaders: ['Content-Type', 'Accept', 'X-API-Key', 'Mcp-Session-Id', 'Mcp-Protocol-Version', 'Last-Event-ID'],
      exposedHeaders: ['Mcp-Session-Id', 'WWW-Authenticate'],
    }),
    auth: passport.authenticate('headerapikey', { session: false }),
    limiter: () =>
      rateLimit({
        windowMs: 60_000,
        limit: 1e9,
        standardHeaders: 'draft-7',
        legacyHeaders: false,
        keyGenerator: (req) => (req.user ? `user:${req.user.id}` : `ip:${ipKeyGenerator(req.ip ?? '')}`),
      }),
  };
  const parts = securedParts();
  /** The middleware in front of one route's handler, in the package's order: CORS, authentication, rate limit. */
  const chain = (route) => [
    ...(parts.includes('cors') ? [guards.cors] : []),
    ...(parts.includes('auth') ? [guards.auth] : []),
    ...(parts.includes('rate') ? [guards.limiter(route)] : []),
  ];
  return { ...guards, chain };
}
