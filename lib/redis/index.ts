// express-mcp-sse/redis: the Redis session bus, for running several instances behind a load balancer without sticky sessions.
import { resolveRedisOptions, type RedisSessionBusOptions } from './options.js';
import { RedisSessionBus } from './session-bus.js';
import { loadIoredis } from './ioredis.js';

/**
 * Creates a session bus that lets several instances (processes or machines) of the same app share their
 * sessions through Redis: a POST may reach any instance, and a broadcast reaches every session once.
 *
 * ```ts
 * import { createMcpSseRouter } from 'express-mcp-sse';
 * import { redisSessionBus } from 'express-mcp-sse/redis';
 *
 * const mcp = createMcpSseRouter({
 *   createServer: () => buildMcpServer(),
 *   bus: redisSessionBus({ url: process.env.REDIS_URL }),
 * });
 * ```
 *
 * - Each session lives on the instance that opened its stream. A POST landing elsewhere is checked against the
 *   directory (`404` unknown session, `403` another principal's) and forwarded to the owner; it answers `202`
 *   only once the owner has taken it, and `503` when Redis or the owner cannot be reached. POSTs for one
 *   session reach it in the order this instance received them; a client that sends its next message only after
 *   the previous one's `202` keeps its order across instances too.
 * - Forwarded messages travel through Redis with the poster's auth info (token included) and headers, so the
 *   MCP server sees the same request either way: use a private Redis, with TLS (`rediss://`) and a password.
 * - `maxSessions`, `maxSessionsPerUser` and rate limits (with express-rate-limit's default memory store) stay per
 *   instance: each instance counts only the sessions and requests it sees itself.
 * - Durable sessions (`durable: true`, the default): a session outlives its instance. Redis keeps what rebuilding
 *   it takes; when its instance dies or drains, the next request or resume on any instance adopts it
 *   (`createServer()` sees `adopted: true`: restore your own state from your store, the old server's memory is
 *   gone). A resume (`Last-Event-ID`) works on any instance. `durable: false`: sessions end with their instance,
 *   and a legacy resume must reach the instance holding the session.
 * - Needs `ioredis` (an optional peer dependency). Create one bus per router; `router.close()` closes it.
 */
export function redisSessionBus(options: RedisSessionBusOptions = {}): RedisSessionBus {
  const resolved = resolveRedisOptions(options);
  if (resolved.redis === undefined) loadIoredis(); // fail here, at creation, when ioredis is missing
  return new RedisSessionBus(resolved);
}

export { RedisSessionBus, type RedisBusStats } from './session-bus.js';
export type { RedisSessionBusOptions } from './options.js';
