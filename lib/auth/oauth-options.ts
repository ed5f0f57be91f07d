// Options of oauthStrategy(): the public interface, its defaults, and validation at creation time.
import { describeValue } from '../validate.js';
import { optionError } from '../errors.js';

export interface OAuthStrategyOptions {
  /**
   * The authorization server's issuer identifier, exactly as it appears in its tokens' `iss` claim and in its
   * metadata. Required. `https:`, or `http:` on a loopback host (`localhost`, `127.0.0.1`, `[::1]`) for development.
   */
  issuer: string;
  /**
   * This MCP server's resource identifier (RFC 8707): tokens must carry it in `aud`, and clients request tokens for
   * it. An absolute `http(s)` URL without fragment or query, e.g. `'https://api.example.com/mcp'`; a path must not
   * end with `/`. Required.
   */
  resource: string;
  /** Scopes every request's token must carry. Defaults to none required (`[]`). */
  scopes?: string[];
  /**
   * Where the issuer's signing keys are. Defaults to the `jwks_uri` of the issuer's RFC 8414 metadata
   * (`/.well-known/oauth-authorization-server`) or OpenID metadata (`/.well-known/openid-configuration`),
   * discovered on the first token and cached.
   */
  jwksUri?: string;
  /**
   * Accepted signing algorithms. Defaults to the asymmetric ones: RS256/384/512, PS256/384/512, ES256/384/512,
   * EdDSA, Ed25519. `none` and HMAC (`HS*`) are never accepted: a JWKS is public, so an HMAC "key" from it is no secret.
   */
  algorithms?: string[];
  /**
   * Seconds of clock skew tolerated for tokens that look not yet valid (`nbf`, or `iat` in the future), as when the
   * authorization server's clock runs ahead: refusing those would make clients fetch token after equally early token.
   * Expiry gets no tolerance: an expired token is refused and the client fetches another. Defaults to `30`; at most `300`.
   */
  clockToleranceSec?: number;
  /** A human-readable name for the protected-resource metadata's `resource_name`. Defaults to none. */
  resourceName?: string;
}

/** The options with defaults applied and everything derived that a request needs. */
export interface ResolvedOAuthOptions {
  issuer: string;
  /** The issuer as a URL, for metadata discovery. */
  issuerUrl: URL;
  /** The resource identifier as configured: published in the metadata and the token requests of clients. */
  resource: string;
  /** The resource as a URL, for `authInfo.resource` and audience comparison. */
  resourceUrl: URL;
  scopes: string[];
  jwksUri: URL | undefined;
  algorithms: string[];
  clockToleranceSec: number;
  resourceName: string | undefined;
  /** Path of the RFC 9728 document on the resource's origin, e.g. `/.well-known/oauth-protected-resource/mcp`. */
  metadataPath: string;
  /** Absolute URL of that document, for the `resource_metadata` challenge parameter. */
  metadataUrl: string;
}

export const asymmetricAlgorithms = Object.freeze([
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
]);

const knownKeys = ['issuer', 'resource', 'scopes', 'jwksUri', 'algorithms', 'clockToleranceSec', 'resourceName'];
const maxClockToleranceSec = 300;
/** RFC 6749 §3.3 scope-token characters: printable ASCII except space, `"` and `\`. */
const scopeToken = /^[\x21\x23-\x5B\x5D-\x7E]+$/;

/** Applies defaults and validates; throws a `TypeError` naming the option, its value and what was expected. */
export function resolveOAuthOptions(options: OAuthStrategyOptions): ResolvedOAuthOptions {
  if (typeof options !== 'object' || options === null) {
    throw optionError(`oauthStrategy() needs an options object with issuer and resource, got ${describeValue(options)}.`);
  }
  for (const key of Object.keys(options)) {
    if (!knownKeys.includes(key)) throw optionError(`Unknown oauthStrategy option "${key}". Known: ${knownKeys.join(', ')}.`);
  }
  const issuerUrl = fetchableUrl('issuer', options.issuer, true);
  const resourceUrl = resourceIdentifier(options.resource);
  const resource = options.resource;
  const metadataPath = `/.well-known/oauth-protected-resource${resourceUrl.pathname === '/' ? '' : resourceUrl.pathname}`;
  return {
    issuer: options.issuer,
    issuerUrl,
    resource,
    resourceUrl,
    scopes: scopes(options.scopes),
    jwksUri: options.jwksUri === undefined ? undefined : fetchableUrl('jwksUri', options.jwksUri, false),
    algorithms: algorithms(options.algorithms),
    clockToleranceSec: clockTolerance(options.clockToleranceSec),
    resourceName: resourceName(options.resourceName),
    metadataPath,
    metadataUrl: `${resourceUrl.origin}${metadataPath}`,
  };
}

/** Whether a URL we fetch keys from may be `http:`: only on this machine, where nobody on the network can swap keys. */
export function isLoopbackHost(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127(?:\.\d{1,3}){3}$/.test(hostname);
}

function fetchableUrl(name: string, value: unknown, isIssuer: boolean): URL {
  const url = absoluteUrl(name, value);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLoopbackHost(url.hostname))) {
    throw optionError(
      `oauthStrategy option "${name}" must be an https: URL (http: only on localhost), got ${describeValue(value)}: keys fetched in clear text could be swapped by anyone on the path.`,
    );
  }
  if (isIssuer && (url.search !== '' || url.hash !== '' || (value as string).includes('?') || (value as string).includes('#'))) {
    throw optionError(`oauthStrategy option "issuer" must have no query or fragment (RFC 8414), got ${describeValue(value)}.`);
  }
  return url;
}

function absoluteUrl(name: string, value: unknown): URL {
  if (typeof value !== 'string' || value === '')
    throw optionError(`oauthStrategy option "${name}" is required: an absolute URL, got ${describeValue(value)}.`);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw optionError(`oauthStrategy option "${name}" must be an absolute URL, got ${describeValue(value)}.`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw optionError(`oauthStrategy option "${name}" must be an http(s) URL, got ${describeValue(value)}.`);
  }
  return url;
}

/**
 * The resource must be canonical (RFC 8707 §2, MCP authorization): no fragment, no query. A path ending in `/` is
 * refused: SDK clients check the resource is a path prefix of the URL they connect to (`checkResourceAllowed`), so
 * `https://x/mcp/` would make a client of `https://x/mcp` refuse the server. A bare origin may be written with or
 * without its `/`: clients send the metadata's string verbatim, and tokens for either form are accepted.
 */
function resourceIdentifier(value: unknown): URL {
  const url = absoluteUrl('resource', value);
  const text = value as string;
  if (text.includes('#')) throw optionError(`oauthStrategy option "resource" must not have a fragment (RFC 8707), got ${describeValue(value)}.`);
  if (text.includes('?')) throw optionError(`oauthStrategy option "resource" must not have a query, got ${describeValue(value)}.`);
  if (url.pathname !== '/' && url.pathname.endsWith('/')) {
    throw optionError(
      `oauthStrategy option "resource" must not end with "/" after a path, got ${describeValue(value)}: SDK clients connecting to ${JSON.stringify(text.replace(/\/+$/, ''))} would refuse it. Use ${JSON.stringify(text.replace(/\/+$/, ''))}.`,
    );
  }
  if (url.username !== '' || url.password !== '') throw optionError('oauthStrategy option "resource" must not carry credentials.');
  return url;
}

function scopes(value: unknown): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.some((scope) => typeof scope !== 'string' || !scopeToken.test(scope))) {
    throw optionError(`oauthStrategy option "scopes" must be an array of scope names (no spaces or quotes), got ${describeValue(value)}.`);
  }
  return [...new Set(value as string[])];
}

function algorithms(value: unknown): string[] {
  if (value === undefined) return [...asymmetricAlgorithms];
  if (!Array.isArray(value) || value.length === 0 || value.some((alg) => typeof alg !== 'string')) {
    throw optionError(`oauthStrategy option "algorithms" must be a non-empty array of names like 'RS256', got ${describeValue(value)}.`);
  }
  for (const alg of value as string[]) {
    if (!asymmetricAlgorithms.includes(alg)) {
      throw optionError(
        `oauthStrategy option "algorithms" must hold asymmetric algorithms (${asymmetricAlgorithms.join(', ')}), got ${JSON.stringify(alg)}: "none" and HMAC are never accepted for tokens checked against a public key set.`,
      );
    }
  }
  return [...new Set(value as string[])];
}

function clockTolerance(value: unknown): number {
  if (value === undefined) return 30;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > maxClockToleranceSec) {
    throw optionError(`oauthStrategy option "clockToleranceSec" must be seconds from 0 to ${maxClockToleranceSec}, got ${describeValue(value)}.`);
  }
  return value;
}

function resourceName(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.trim() === '')
    throw optionError(`oauthStrategy option "resourceName" must be a non-empty string, got ${describeValue(value)}.`);
  return value;
}
