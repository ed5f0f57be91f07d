// express-mcp-sse: the package's public exports.
export { createMcpSseRouter, type McpSseRouter, type CloseOptions } from './router.js';
export type { McpSseRouterOptions, AuthOptions, AuthEndpoints, RateLimitRoutes, RouteRateLimit, ErrorContext } from './options.js';
export { SSETransport, type CustomEvent } from './transports/http-sse/transport.js';
export { StreamableHTTPTransport } from './transports/streamable-http/transport.js';
export { SessionRegistry, type SessionTransport } from './transports/session-registry.js';
export { McpSession, type TransportKind } from './session/session.js';
export { InMemorySessionBus, type SessionBus, type BusNode, type BusSession, type Delivery, type DeliveryResult } from './bus.js';
export { jwtStrategy, type JwtStrategyOptions } from './auth/jwt.js';
export { apiKeyStrategy, type ApiKeyStrategyOptions } from './auth/api-key.js';
export { oauthStrategy, type OAuthStrategyOptions } from './auth/oauth.js';
export { McpSseError, ErrorCodes, type ErrorCode } from './errors.js';
export type { ErrorReason } from './http/reply.js';
export { mcpBodyErrorHandler } from './http/body-error-handler.js';
export type { SessionStats, TransportSessionStats } from './stats.js';
export type { HealthReport } from './http/health.js';
export type {
  AuthInfo,
  JSONRPCMessage,
  MessageExtra,
  NotificationLike,
  PassportStrategy,
  Principal,
  ServerLike,
  SessionContext,
  TransportLike,
} from './types.js';
export type { CorsOptions, CorsCustomOrigin, CorsStaticOrigin } from './http/cors-options.js';
