// What a strategy made by this package tells the router about itself (challenges, credential headers, metadata).
import type { Strategy } from 'passport';

/** What one oauthStrategy publishes about its resource (RFC 9728), served by `router.wellKnown`. */
export interface ProtectedResource {
  resource: string;
  /** e.g. `/.well-known/oauth-protected-resource/mcp`, or the root form for a resource without a path. */
  metadataPath: string;
  authorizationServer: string;
  scopes: string[];
  resourceName: string | undefined;
}

/** What a strategy made by this package tells the router about itself. */
export interface StrategyHints {
  /** The `WWW-Authenticate` challenge for a failure with this reason code (and the strategy's own failure value). */
  challenge(reason: string, failure?: unknown): string;
  /** A request header carrying credentials, allowed by CORS preflights. */
  requestHeader?: string;
  /** A query parameter carrying credentials, never copied into the endpoint URL. */
  queryParameter?: string;
  /** Put this challenge first in `WWW-Authenticate`: SDK clients only read a header that starts with `Bearer`. */
  leadsChallenges?: boolean;
  /** The RFC 9728 metadata of this strategy's resource, served by `router.wellKnown`. */
  protectedResource?: ProtectedResource;
}

/** Strategies made by this package carry hints; others get a Bearer challenge. */
export type HintedStrategy = Strategy & { mcpSseHints?: StrategyHints };

export function hintsOf(strategy: Strategy): StrategyHints | undefined {
  return (strategy as HintedStrategy).mcpSseHints;
}

/** An RFC 6750 challenge; `error="invalid_token"` only when a token was presented. */
export function bearerChallenge(reason: string): string {
  return reason === 'missing_credentials' ? 'Bearer realm="mcp"' : 'Bearer realm="mcp", error="invalid_token"';
}
