// oauthStrategy(): a Passport strategy making the router an OAuth 2.1 resource server (MCP authorization): JWT
// access tokens checked against the issuer's keys, and challenges that tell clients where to get a token.
import type { IncomingMessage } from 'node:http';
import passport from 'passport';
import type { Strategy } from 'passport';
import type { AuthInfo, PassportStrategy, Principal } from '../types.js';
import type { ProtectedResource, StrategyHints } from './hints.js';
import { checkAccessToken, type VerifiedToken } from './access-token.js';
import { IssuerKeys } from './jwks.js';
import { resolveOAuthOptions, type OAuthStrategyOptions, type ResolvedOAuthOptions } from './oauth-options.js';

export type { OAuthStrategyOptions } from './oauth-options.js';

/** `Authorization: Bearer <b64token>` (RFC 6750 §2.1): the only place a token is read from, never the URL. */
const bearerHeader = /^bearer +(\S+) *$/i;

/**
 * A Passport strategy for an OAuth 2.1 protected resource. Tokens come from the `Authorization: Bearer` header only
 * and must be JWTs (RFC 9068) signed by `issuer`'s keys, with `iss` exactly `issuer`, `resource` in `aud`, an `exp`,
 * and every scope in `scopes`. The principal id is the token's `sub`. Mount `router.wellKnown` at the app root so
 * clients can discover the authorization server:
 *
 * ```ts
 * const mcp = createMcpSseRouter({
 *   createServer,
 *   auth: { strategies: [oauthStrategy({ issuer: 'https://auth.example.com', resource: 'https://api.example.com/mcp', scopes: ['mcp:tools'] })] },
 * });
 * app.use(mcp.wellKnown);
 * app.use('/mcp', mcp);
 * ```
 */
export function oauthStrategy(options: OAuthStrategyOptions): PassportStrategy {
  const resolved = resolveOAuthOptions(options);
  const keys = new IssuerKeys(resolved.issuer, resolved.issuerUrl, resolved.jwksUri);

  type Created = Strategy & {
    success(user: object, info?: object): void;
    fail(challenge: string, status: number): void;
    error(error: unknown): void;
  };
  const strategy = new passport.Strategy() as Strategy;
  strategy.name = 'oauth-resource';
  // Passport authenticates with a per-request copy of the strategy, so `this` is request-local.
  strategy.authenticate = function (this: Created, req: IncomingMessage) {
    const header = req.headers.authorization;
    if (header === undefined || !/^bearer(?: |$)/i.test(header)) return this.fail('missing bearer token', 401);
    const token = bearerHeader.exec(header)?.[1];
    if (token === undefined) return this.fail('The Authorization header is not Bearer followed by a token.', 401);
    checkAccessToken(token, resolved, keys).then(
      (result) => {
        if (!result.ok) return this.fail(result.refusal.description, result.refusal.status);
        this.success(principalOf(result.token), authInfoOf(token, result.token, resolved));
      },
      (error: unknown) => this.error(error),
    );
  };

  const protectedResource: ProtectedResource = {
    resource: resolved.resource,
    metadataPath: resolved.metadataPath,
    authorizationServer: resolved.issuer,
    scopes: resolved.scopes,
    resourceName: resolved.resourceName,
  };
  const mcpSseHints: StrategyHints = {
    challenge: (reason, failure) => challenge(resolved, reason, failure),
    leadsChallenges: true,
    protectedResource,
  };
  return Object.assign(strategy, { mcpSseHints });
}

function principalOf({ claims }: VerifiedToken): Principal {
  return { id: claims.sub, claims };
}

function authInfoOf(token: string, { claims, scopes }: VerifiedToken, options: ResolvedOAuthOptions): AuthInfo {
  const record = claims as Record<string, unknown>;
  const clientId = [record.client_id, record.azp, claims.sub].find((value): value is string => typeof value === 'string' && value !== '')!;
  return {
    token,
    clientId,
    scopes,
    expiresAt: claims.exp,
    resource: new URL(options.resourceUrl.href),
    extra: { issuer: options.issuer, subject: claims.sub },
  };
}

/**
 * The RFC 6750 / RFC 9728 challenge: where the metadata is and which scopes to ask for, plus `error="invalid_token"`
 * only when a token was presented (§3.1), or `error="insufficient_scope"` for a valid token lacking a scope.
 */
function challenge(options: ResolvedOAuthOptions, reason: string, failure: unknown): string {
  const params: string[] = [];
  if (reason === 'insufficient_scope') params.push('error="insufficient_scope"');
  if (options.scopes.length > 0) params.push(`scope="${options.scopes.join(' ')}"`);
  params.push(`resource_metadata="${options.metadataUrl}"`);
  if (reason !== 'missing_credentials' && reason !== 'insufficient_scope') {
    params.push('error="invalid_token"');
    if (typeof failure === 'string' && /^[\x20\x21\x23-\x5B\x5D-\x7E]+$/.test(failure)) params.push(`error_description="${failure}"`);
  }
  return `Bearer ${params.join(', ')}`;
}
