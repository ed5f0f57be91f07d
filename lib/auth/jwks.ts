// The issuer's signing keys: `jwks_uri` discovery from its metadata, a cached JWK Set, and refetches for unknown
// `kid`s that a flood of forged tokens cannot turn into a flood of requests to the authorization server.
import type { FlattenedJWSInput, JSONWebKeySet, JWSHeaderParameters, LocalJWKSet, CryptoKey } from 'jose';
import { logAuth } from '../log.js';
import { loadJose } from './jose.js';
import { isLoopbackHost } from './oauth-options.js';

/** How long things are kept and how often the authorization server may be asked; see the README's trade-offs. */
export const keyTimings = Object.freeze({
  /** A fetched key set is used this long before it is fetched again (keys retired upstream stay trusted as long). */
  maxAgeMs: 10 * 60_000,
  /** After a refetch for an unknown `kid` that found no new key, further unknown `kid`s wait this long. */
  missCooldownMs: 30_000,
  /** After a failed fetch, no new attempt for this long (the keys already held keep being used). */
  failureBackoffMs: 5_000,
  /** Each metadata or key-set request gives up after this long. */
  fetchTimeoutMs: 5_000,
});

/** The authorization server's metadata or key set could not be fetched: a server-side problem, never the token's. */
export class KeySetUnavailableError extends Error {
  override readonly name = 'KeySetUnavailableError';
}

/**
 * One issuer's keys, as a `jose` key resolver (`resolve`). The set is fetched on first use (after discovering
 * `jwks_uri` unless it was given), reused for `maxAgeMs`, and fetched again at once when a token names a `kid` it
 * lacks (a key rotation), unless such a refetch found nothing new less than `missCooldownMs` ago. Concurrent
 * requests share one fetch. When the authorization server cannot be reached, the keys already held keep working.
 */
export class IssuerKeys {
  #set: LocalJWKSet | undefined;
  #fetchedAt = Number.NEGATIVE_INFINITY;
  #failedAt = Number.NEGATIVE_INFINITY;
  #lastError: unknown;
  #missCooldownUntil = Number.NEGATIVE_INFINITY;
  #pending: Promise<void> | undefined;
  #jwksUri: URL | undefined;

  constructor(
    private readonly issuer: string,
    private readonly issuerUrl: URL,
    private readonly configuredJwksUri: URL | undefined,
  ) {
    this.#jwksUri = configuredJwksUri;
  }

  readonly resolve = async (header: JWSHeaderParameters, token: FlattenedJWSInput): Promise<CryptoKey> => {
    let refreshed = false;
    if (this.#set === undefined || Date.now() - this.#fetchedAt > keyTimings.maxAgeMs) {
      await this.#refresh();
      refreshed = true;
    }
    try {
      return await this.#set!(header, token);
    } catch (error) {
      if ((error as { code?: string }).code !== 'ERR_JWKS_NO_MATCHING_KEY') throw error;
      // A fetch under way (maybe for this very kid) is as fresh as it gets: wait for it rather than start another.
      if (this.#pending !== undefined) {
        await this.#pending;
        return this.#set!(header, token);
      }
      if (Date.now() < this.#missCooldownUntil) throw error;
      // This request just fetched the set and the kid is not in it: that was the refetch, and it found nothing.
      if (refreshed) {
        this.#missCooldownUntil = Date.now() + keyTimings.missCooldownMs;
        throw error;
      }
      // Claimed before the fetch starts, so concurrent misses join this fetch instead of starting their own.
      this.#missCooldownUntil = Date.now() + keyTimings.missCooldownMs;
      logAuth('unknown kid %o: refetching the key set of %s', header.kid, this.issuer);
      await this.#refresh();
      const key = await this.#set!(header, token);
      // The refetch found the key: a rotation, not a forgery, so the next rotation need not wait either.
      this.#missCooldownUntil = Number.NEGATIVE_INFINITY;
      return key;
    }
  };

  #refresh(): Promise<void> {
    this.#pending ??= this.#fetchSet().finally(() => {
      this.#pending = undefined;
    });
    return this.#pending;
  }

  async #fetchSet(): Promise<void> {
    if (Date.now() - this.#failedAt < keyTimings.failureBackoffMs) {
      if (this.#set !== undefined) return;
      throw this.#lastError;
    }
    try {
      this.#jwksUri ??= await discoverJwksUri(this.issuer, this.issuerUrl);
      const jwks = (await getJson(this.#jwksUri, 'key set')) as JSONWebKeySet;
      const { createLocalJWKSet } = await loadJose();
      let set: LocalJWKSet;
      try {
        set = createLocalJWKSet(jwks);
      } catch (cause) {
        throw new KeySetUnavailableError(`The key set at ${this.#jwksUri.href} is not a JWK Set.`, { cause });
      }
      this.#set = set;
      this.#fetchedAt = Date.now();
    } catch (error) {
      this.#failedAt = Date.now();
      this.#lastError = error;
      // A moved jwks_uri is found again by the next discovery.
      this.#jwksUri = this.configuredJwksUri;
      logAuth('key set of %s unavailable: %s', this.issuer, (error as Error).message);
      if (this.#set === undefined) throw error;
    }
  }
}

/**
 * The `jwks_uri` of the issuer's metadata: RFC 8414 first (`/.well-known/oauth-authorization-server` inserted before
 * the issuer's path), then OpenID Connect Discovery (`/.well-known/openid-configuration` appended, then inserted).
 * The document must name exactly this issuer (RFC 8414 §3.3), so another server's keys are never taken for its own.
 */
export async function discoverJwksUri(issuer: string, issuerUrl: URL): Promise<URL> {
  const path = issuerUrl.pathname.replace(/\/$/, '');
  const candidates = [
    `${issuerUrl.origin}/.well-known/oauth-authorization-server${path}`,
    `${issuerUrl.origin}${path}/.well-known/openid-configuration`,
    ...(path === '' ? [] : [`${issuerUrl.origin}/.well-known/openid-configuration${path}`]),
  ];
  const misses: string[] = [];
  for (const candidate of candidates) {
    const metadata = await getJson(new URL(candidate), 'metadata', misses);
    if (metadata === undefined) continue;
    const record = metadata as Record<string, unknown>;
    if (record.issuer !== issuer) {
      throw new KeySetUnavailableError(`The metadata at ${candidate} names issuer ${JSON.stringify(record.issuer)}, not ${JSON.stringify(issuer)}.`);
    }
    const jwksUri = typeof record.jwks_uri === 'string' ? safeUrl(record.jwks_uri) : undefined;
    if (jwksUri === undefined) throw new KeySetUnavailableError(`The metadata at ${candidate} has no usable https jwks_uri.`);
    return jwksUri;
  }
  throw new KeySetUnavailableError(`No authorization server metadata for ${issuer} (${misses.join('; ')}); set oauthStrategy's jwksUri.`);
}

function safeUrl(value: string): URL | undefined {
  try {
    const url = new URL(value);
    return url.protocol === 'https:' || (url.protocol === 'http:' && isLoopbackHost(url.hostname)) ? url : undefined;
  } catch {
    return undefined;
  }
}

/**
 * GETs a JSON document. With `misses`, a non-200 answer is noted there and gives `undefined` (try the next
 * candidate); without, it throws. Redirects are not followed: a configured or discovered URL is the one to use.
 */
async function getJson(url: URL, what: string, misses?: string[]): Promise<unknown> {
  let response: Response;
  try {
    response = await fetch(url, {
      headers: { Accept: 'application/json, application/jwk-set+json' },
      redirect: 'manual',
      signal: AbortSignal.timeout(keyTimings.fetchTimeoutMs),
    });
  } catch (cause) {
    throw new KeySetUnavailableError(`Fetching the ${what} at ${url.href} failed.`, { cause });
  }
  if (response.status !== 200) {
    await response.body?.cancel();
    if (misses !== undefined) {
      misses.push(`${url.href}: HTTP ${response.status}`);
      return undefined;
    }
    throw new KeySetUnavailableError(`Fetching the ${what} at ${url.href} answered HTTP ${response.status}.`);
  }
  try {
    const body: unknown = await response.json();
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new Error('not a JSON object');
    return body;
  } catch (cause) {
    throw new KeySetUnavailableError(`The ${what} at ${url.href} is not a JSON object.`, { cause });
  }
}
