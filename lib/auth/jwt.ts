// jwtStrategy(): a passport-jwt Strategy configured safely for MCP clients (Bearer header, no `alg: none`).
import type { IncomingMessage } from 'node:http';
import type { KeyObject } from 'node:crypto';
import { Strategy as JwtStrategy, type StrategyOptionsWithRequest, type VerifiedCallback } from 'passport-jwt';
import type { AuthInfo, PassportStrategy } from '../types.js';
import { bearerChallenge, type StrategyHints } from './hints.js';
import { parseScopes } from './principal.js';
import { optionError } from '../errors.js';
import { describeValue } from '../validate.js';

export interface JwtStrategyOptions {
  /** Shared secret for HMAC algorithms (HS256…). Give this or `publicKey`. */
  secret?: string | Buffer;
  /** Public key (PEM or KeyObject) for RS/ES/PS algorithms; then `algorithms` is required. */
  publicKey?: string | Buffer | KeyObject;
  /** Accepted algorithms. Defaults to `['HS256']`. `none` is never accepted. */
  algorithms?: string[];
  /** Required `iss` claim. Defaults to not checked. */
  issuer?: string | string[];
  /** Required `aud` claim. Defaults to not checked. */
  audience?: string | string[];
  /** Seconds of clock skew tolerated for `exp`/`nbf`. Defaults to `0`. */
  clockTolerance?: number;
  /** Header carrying the token. Defaults to `'Authorization'`. */
  headerName?: string;
  /** Expect `Bearer <token>` in the header. Defaults to `true`. */
  requireBearer?: boolean;
  /**
   * Also accept the token from this query parameter, for browser `EventSource`s that cannot send headers.
   * Defaults to off. Tokens in URLs end up in access logs and proxies: prefer short-lived tokens.
   */
  queryParameter?: string;
  /**
   * Refuse tokens without an `exp` claim: a leaked token without one works forever. Defaults to `true`; `false`
   * accepts long-lived tokens (an `exp` that is present is still enforced).
   */
  requireExpiry?: boolean;
}

interface JwtPayload {
  sub?: unknown;
  exp?: unknown;
  scope?: unknown;
  scp?: unknown;
  [claim: string]: unknown;
}

const knownKeys = [
  'secret',
  'publicKey',
  'algorithms',
  'issuer',
  'audience',
  'clockTolerance',
  'headerName',
  'requireBearer',
  'queryParameter',
  'requireExpiry',
];

/** A passport-jwt Strategy whose principal id is the token's `sub`. */
export function jwtStrategy(options: JwtStrategyOptions): PassportStrategy {
  if (typeof options !== 'object' || options === null) throw optionError('jwtStrategy() needs an options object with secret or publicKey.');
  for (const key of Object.keys(options)) {
    if (!knownKeys.includes(key)) throw optionError(`Unknown jwtStrategy option "${key}". Known: ${knownKeys.join(', ')}.`);
  }
  const { secret, publicKey, issuer, audience } = options;
  if ((secret === undefined) === (publicKey === undefined))
    throw optionError('jwtStrategy option "secret" or "publicKey" is required (exactly one).');
  if (secret !== undefined && !(typeof secret === 'string' ? secret.length > 0 : Buffer.isBuffer(secret) && secret.length > 0)) {
    throw optionError('jwtStrategy option "secret" must be a non-empty string or Buffer.');
  }
  const algorithms = options.algorithms ?? (secret !== undefined ? ['HS256'] : undefined);
  if (algorithms === undefined) throw optionError('jwtStrategy option "algorithms" is required with "publicKey", e.g. [\'RS256\'].');
  if (!Array.isArray(algorithms) || algorithms.length === 0 || algorithms.some((a) => typeof a !== 'string')) {
    throw optionError(`jwtStrategy option "algorithms" must be a non-empty array of names like 'HS256', got ${JSON.stringify(algorithms)}.`);
  }
  if (algorithms.some((a) => a.toLowerCase() === 'none'))
    throw optionError('jwtStrategy option "algorithms" must not include "none": unsigned tokens are never accepted.');
  if (publicKey !== undefined && algorithms.some((a) => a.startsWith('HS'))) {
    throw optionError('jwtStrategy option "algorithms" must not mix HMAC (HS*) with "publicKey": that invites algorithm confusion.');
  }
  if (secret !== undefined) checkHmacSecret(secret, algorithms);
  const clockTolerance = options.clockTolerance ?? 0;
  if (typeof clockTolerance !== 'number' || !(clockTolerance >= 0))
    throw optionError(`jwtStrategy option "clockTolerance" must be seconds >= 0, got ${String(clockTolerance)}.`);
  const headerName = (options.headerName ?? 'Authorization').toLowerCase();
  const requireBearer = options.requireBearer ?? true;
  const { queryParameter } = options;
  if (queryParameter !== undefined && (typeof queryParameter !== 'string' || queryParameter === '')) {
    throw optionError('jwtStrategy option "queryParameter" must be a non-empty string.');
  }
  const requireExpiry = options.requireExpiry ?? true;
  if (typeof requireExpiry !== 'boolean')
    throw optionError(`jwtStrategy option "requireExpiry" must be true or false, got ${JSON.stringify(requireExpiry)}.`);

  const extract = (req: IncomingMessage): string | null => {
    const header = req.headers[headerName];
    const value = Array.isArray(header) ? header[0] : header;
    if (value !== undefined && value !== '') {
      if (!requireBearer) return value.trim();
      const match = /^bearer\s+(\S+)\s*$/i.exec(value);
      if (match !== null) return match[1]!;
    }
    if (queryParameter !== undefined) {
      const token = new URL(req.url ?? '/', 'http://x').searchParams.get(queryParameter);
      if (token) return token;
    }
    return null;
  };

  const strategyOptions: StrategyOptionsWithRequest = {
    secretOrKey: (secret ?? publicKey) as string | Buffer,
    jwtFromRequest: extract as StrategyOptionsWithRequest['jwtFromRequest'],
    algorithms: algorithms as StrategyOptionsWithRequest['algorithms'],
    issuer,
    audience,
    jsonWebTokenOptions: { clockTolerance },
    passReqToCallback: true,
  };
  const strategy = new JwtStrategy(strategyOptions, (req: IncomingMessage, payload: JwtPayload, done: VerifiedCallback) => {
    if (typeof payload.sub !== 'string' || payload.sub === '') {
      done(null, false, 'token has no "sub" claim');
      return;
    }
    if (requireExpiry && typeof payload.exp !== 'number') {
      done(null, false, 'token has no "exp" claim (jwtStrategy requireExpiry)');
      return;
    }
    // `"exp": 1e400` parses as Infinity, which every expiry check passes: a token that never expires.
    if (payload.exp !== undefined && !Number.isFinite(payload.exp)) {
      done(null, false, 'token has an "exp" claim that is not a finite number');
      return;
    }
    const authInfo: AuthInfo = {
      token: extract(req) ?? '',
      clientId: payload.sub,
      scopes: parseScopes(payload.scope ?? payload.scp),
      extra: { claims: payload },
    };
    if (typeof payload.exp === 'number') authInfo.expiresAt = payload.exp;
    done(null, { id: payload.sub, claims: payload }, authInfo);
  });
  type Instance = typeof strategy & { fail: (challenge: string) => void };
  const verifyToken = strategy.authenticate;
  // Checks jsonwebtoken does not make, on the token as sent, before its signature is verified.
  strategy.authenticate = function (this: Instance, req, opts) {
    const token = extract(req as IncomingMessage);
    const refusal = token === null ? undefined : unsupportedToken(token);
    if (refusal !== undefined) return this.fail(refusal);
    verifyToken.call(this, req, opts);
  };
  const mcpSseHints: StrategyHints = { challenge: bearerChallenge };
  if (headerName !== 'authorization') mcpSseHints.requestHeader = options.headerName;
  if (queryParameter !== undefined) mcpSseHints.queryParameter = queryParameter;
  return Object.assign(strategy, { mcpSseHints });
}

/** Shortest HMAC secret per algorithm: the hash's output size (RFC 7518 §3.2). */
const hmacSecretBytes: Record<string, number> = { HS256: 32, HS384: 48, HS512: 64 };

/**
 * A shared secret verifies HMAC tokens only: with RS/ES/PS algorithms every token would be refused (or, worse, a
 * library would treat the secret as a key). A secret shorter than the hash can be brute-forced offline from one token.
 */
function checkHmacSecret(secret: string | Buffer, algorithms: string[]): void {
  const asymmetric = algorithms.filter((alg) => !alg.startsWith('HS'));
  if (asymmetric.length > 0) {
    throw optionError(
      `jwtStrategy option "algorithms" lists ${asymmetric.join(', ')} with a "secret": a shared secret only verifies HMAC tokens (HS256, HS384, HS512). Give "publicKey" for ${asymmetric[0]}, or algorithms: ['HS256'].`,
    );
  }
  const bytes = typeof secret === 'string' ? Buffer.byteLength(secret) : secret.length;
  for (const alg of algorithms) {
    const needed = hmacSecretBytes[alg];
    if (needed === undefined) {
      throw optionError(
        `jwtStrategy option "algorithms" holds an unknown algorithm ${describeValue(alg)}. Known: HS256, HS384, HS512, RS*, PS*, ES*.`,
      );
    }
    if (bytes < needed) {
      throw optionError(
        `jwtStrategy option "secret" is ${bytes} bytes: ${alg} needs at least ${needed} (RFC 7518 §3.2), or the secret can be guessed from one token. Generate one with \`openssl rand -base64 ${needed}\`.`,
      );
    }
  }
}

/**
 * Why a token must be refused whatever its signature, or `undefined` to let jsonwebtoken judge it:
 * a `crit` header (RFC 7515 §4.1.11: extensions this server does not understand), or a payload that is not a
 * JSON object (jsonwebtoken throws on `null`, which would surface as a 500).
 */
function unsupportedToken(token: string): string | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  const header = decodeSegment(parts[0]!);
  if (isObject(header) && 'crit' in header) return 'token header lists critical extensions ("crit") this server does not understand';
  if (!isObject(decodeSegment(parts[1]!))) return 'token payload is not a JSON object';
  return undefined;
}

function decodeSegment(segment: string): unknown {
  try {
    return JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
