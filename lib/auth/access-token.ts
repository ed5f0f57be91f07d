// Checks one JWT access token as a resource server must (RFC 9068, RFC 8707, MCP authorization): cheap header and
// claim checks first, so tokens for another issuer or resource never cost a key lookup, then the signature.
import type { JWTPayload } from 'jose';
import { parseScopes } from './principal.js';
import { loadJose } from './jose.js';
import { KeySetUnavailableError, type IssuerKeys } from './jwks.js';
import type { ResolvedOAuthOptions } from './oauth-options.js';

/** A verified access token. */
export interface VerifiedToken {
  claims: JWTPayload & { sub: string; exp: number };
  scopes: string[];
}

/**
 * Why a token was refused. `description` is a fixed text for the `error_description` challenge parameter (so no
 * `"` or `\`): it says what is wrong with the token the client sent, never anything from the server or the token.
 */
export interface TokenRefusal {
  status: 401 | 403;
  description: string;
}

export type TokenCheck = { ok: true; token: VerifiedToken } | { ok: false; refusal: TokenRefusal };

const refuse = (description: string, status: 401 | 403 = 401): TokenCheck => ({ ok: false, refusal: { status, description } });

/** Three base64url parts: a JWS in compact form (an encrypted JWE has five and is refused). */
const compactJws = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;
/** RFC 9068 `typ` values, and the plain `JWT` many authorization servers still write. */
const accessTokenTypes = new Set(['at+jwt', 'jwt']);

/**
 * Verifies `token` for this resource. Resolves with a refusal for anything wrong with the token; rejects only when the
 * keys could not be had (the authorization server is unreachable), which is the server's problem, not the client's.
 */
export async function checkAccessToken(token: string, options: ResolvedOAuthOptions, keys: IssuerKeys): Promise<TokenCheck> {
  if (!compactJws.test(token)) return refuse('The access token is not a signed JWT.');
  const jose = await loadJose();
  let header: ReturnType<typeof jose.decodeProtectedHeader>;
  let unverified: JWTPayload;
  try {
    header = jose.decodeProtectedHeader(token);
    unverified = jose.decodeJwt(token);
  } catch {
    return refuse('The access token is not a well-formed JWT.');
  }
  // The algorithm is checked before any key is looked up: `none` and HMAC never reach the key set.
  if (typeof header.alg !== 'string' || !options.algorithms.includes(header.alg))
    return refuse("The access token's signing algorithm is not accepted.");
  if (header.crit !== undefined) return refuse('The access token has critical header parameters, which are not supported.');
  if (
    header.typ !== undefined &&
    !accessTokenTypes.has(
      String(header.typ)
        .toLowerCase()
        .replace(/^application\//, ''),
    )
  ) {
    return refuse('The token is not an access token (its typ header).');
  }
  if (header.kid !== undefined && typeof header.kid !== 'string') return refuse('The access token is not a well-formed JWT.');
  if (unverified.iss !== options.issuer) return refuse('The access token was issued by another authorization server.');
  if (!audienceMatches(unverified.aud, options.resourceUrl)) return refuse('The access token is not meant for this resource (audience).');

  let claims: JWTPayload;
  try {
    ({ payload: claims } = await jose.jwtVerify(token, keys.resolve, {
      issuer: options.issuer,
      algorithms: options.algorithms,
      clockTolerance: options.clockToleranceSec,
      requiredClaims: ['exp', 'sub'],
    }));
  } catch (error) {
    if (error instanceof KeySetUnavailableError) throw error;
    const refusal = describeJoseError(error);
    if (refusal === undefined) throw error;
    return refuse(refusal);
  }
  // The signature covers what was checked above, but checking the verified claims keeps this function honest.
  if (claims.iss !== options.issuer || !audienceMatches(claims.aud, options.resourceUrl))
    return refuse('The access token is not meant for this resource (audience).');
  if (typeof claims.sub !== 'string' || claims.sub === '') return refuse('The access token has no subject (sub).');
  if (typeof claims.exp !== 'number' || !Number.isFinite(claims.exp)) return refuse('The access token has no valid expiry (exp).');
  const now = Date.now() / 1000;
  // No tolerance on expiry: a client whose token just expired gets a 401 and fetches another, as the spec intends.
  // The tolerance only spares tokens that look early (nbf, iat), which a client cannot fix by asking again.
  if (claims.exp <= now) return refuse('The access token expired.');
  if (typeof claims.iat === 'number' && claims.iat > now + options.clockToleranceSec)
    return refuse('The access token is not valid yet (issued in the future).');

  const record = claims as Record<string, unknown>;
  const scopes = parseScopes(record.scope ?? record.scp);
  if (options.scopes.some((scope) => !scopes.includes(scope))) return refuse('The access token lacks a required scope.', 403);
  return { ok: true, token: { claims: claims as VerifiedToken['claims'], scopes } };
}

/**
 * Whether `aud` names this resource. URLs are compared after RFC 3986 normalisation (scheme and host case, default
 * port) and with one trailing `/` aside, as the SDK's own `requireBearerAuth` compares them: clients send
 * `https://api.example.com` or `https://api.example.com/` for one resource. Otherwise the path must match exactly.
 */
export function audienceMatches(aud: unknown, resource: URL): boolean {
  const audiences = typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud : [];
  const expected = withoutTrailingSlash(resource.href);
  return audiences.some((entry) => {
    if (typeof entry !== 'string' || entry.includes('#')) return false;
    try {
      return withoutTrailingSlash(new URL(entry).href) === expected;
    } catch {
      return false;
    }
  });
}

const withoutTrailingSlash = (href: string): string => (href.endsWith('/') ? href.slice(0, -1) : href);

/** A fixed description for a `jose` refusal, or `undefined` for an error that is not about the token. */
function describeJoseError(error: unknown): string | undefined {
  const { code, claim } = error as { code?: unknown; claim?: unknown };
  switch (code) {
    case 'ERR_JWT_EXPIRED':
      return 'The access token expired.';
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
      if (claim === 'nbf') return 'The access token is not valid yet (nbf).';
      if (claim === 'exp') return 'The access token has no valid expiry (exp).';
      if (claim === 'sub') return 'The access token has no subject (sub).';
      if (claim === 'iss') return 'The access token was issued by another authorization server.';
      return 'The access token has an invalid claim.';
    case 'ERR_JWKS_NO_MATCHING_KEY':
      return 'The access token was signed with a key the authorization server does not publish.';
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
    case 'ERR_JWKS_MULTIPLE_MATCHING_KEYS':
      return "The access token's signature is invalid.";
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
    case 'ERR_JOSE_NOT_SUPPORTED':
      return "The access token's signing algorithm is not accepted.";
    case 'ERR_JWT_INVALID':
    case 'ERR_JWS_INVALID':
      return 'The access token is not a well-formed JWT.';
    default:
      return undefined;
  }
}
