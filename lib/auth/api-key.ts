// apiKeyStrategy(): a passport-headerapikey Strategy with constant-time key checks and key-free principal ids.
import crypto, { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { HeaderAPIKeyStrategy } from 'passport-headerapikey';
import type { PassportStrategy, Principal } from '../types.js';
import type { StrategyHints } from './hints.js';
import { toPrincipal } from './principal.js';
import { optionError } from '../errors.js';
import { describeValue } from '../validate.js';

export interface ApiKeyStrategyOptions {
  /** Accepted keys: an array (principal id `key:<first 8 hex of SHA-256>`) or a record key → principal name. */
  keys?: string[] | Record<string, string>;
  /** Or look keys up yourself: return a principal (string id, or object with `id`) or `false`. */
  verify?: (key: string) => unknown | Promise<unknown>;
  /** Header carrying the key. Defaults to `'X-API-Key'`. */
  headerName?: string;
  /** Also accept `Authorization: Bearer <key>`. Defaults to `false`. */
  allowBearer?: boolean;
  /**
   * Also accept the key from this query parameter, for browser `EventSource`s that cannot send headers.
   * Defaults to off. Keys in URLs end up in access logs and proxies: prefer a key meant for browsers.
   */
  queryParameter?: string;
}

const knownKeys = ['keys', 'verify', 'headerName', 'allowBearer', 'queryParameter'];

// The one-shot crypto.hash() (Node 20.12+) makes no Hash object per key checked; older Node 20s take createHash().
const sha256: (value: string) => Buffer =
  typeof crypto.hash === 'function' ? (value) => crypto.hash('sha256', value, 'buffer') : (value) => createHash('sha256').update(value).digest();

/** A passport-headerapikey Strategy. Keys are compared as SHA-256 digests in constant time. */
export function apiKeyStrategy(options: ApiKeyStrategyOptions): PassportStrategy {
  if (typeof options !== 'object' || options === null) throw optionError('apiKeyStrategy() needs an options object with keys or verify.');
  for (const key of Object.keys(options)) {
    if (!knownKeys.includes(key)) throw optionError(`Unknown apiKeyStrategy option "${key}". Known: ${knownKeys.join(', ')}.`);
  }
  const { keys, verify } = options;
  if ((keys === undefined) === (verify === undefined)) throw optionError('apiKeyStrategy option "keys" or "verify" is required (exactly one).');
  if (verify !== undefined && typeof verify !== 'function')
    throw optionError('apiKeyStrategy option "verify" must be a function (key) => principal | false.');
  const headerName = options.headerName ?? 'X-API-Key';
  if (typeof headerName !== 'string' || !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(headerName)) {
    throw optionError(`apiKeyStrategy option "headerName" must be a header name, got ${JSON.stringify(headerName)}.`);
  }
  const allowBearer = options.allowBearer ?? false;
  const { queryParameter } = options;
  if (queryParameter !== undefined && (typeof queryParameter !== 'string' || queryParameter === '')) {
    throw optionError('apiKeyStrategy option "queryParameter" must be a non-empty string.');
  }
  const lookup = verify ?? keyLookup(keys!);

  type Done = (error: Error | null, user?: object | false, info?: object | string) => void;
  const settle = (key: string, found: unknown, done: Done): void => {
    if (!found) return done(null, false, 'invalid api key');
    const principal = toPrincipal(found);
    if (principal === undefined) return done(new TypeError('apiKeyStrategy verify() returned a principal without an id.'));
    done(null, principal, { token: key, scopes: [] });
  };
  const asError = (error: unknown): Error => (error instanceof Error ? error : new Error(String(error)));
  // Configured keys answer synchronously (no promise on the hot path); a verify() may be async.
  const check = (key: string, done: Done): void => {
    let found: unknown;
    try {
      found = lookup(key);
    } catch (error) {
      return done(asError(error));
    }
    if (found instanceof Promise)
      found.then(
        (value) => settle(key, value, done),
        (error: unknown) => done(asError(error)),
      );
    else settle(key, found, done);
  };

  const primary = { header: headerName.toLowerCase(), prefix: '' };
  const bearer = { header: 'authorization', prefix: 'Bearer ' };
  const strategy = new HeaderAPIKeyStrategy(primary, false, check);
  if (allowBearer || queryParameter !== undefined) {
    type Instance = typeof strategy & {
      apiKeyHeader: typeof primary;
      success: (user: object, info?: object) => void;
      fail: (challenge: string) => void;
      error: (err: Error) => void;
    };
    const authenticate = strategy.authenticate;
    // Passport authenticates with a per-request copy of the strategy, so what is set on `this` is request-local.
    strategy.authenticate = function (this: Instance, req: IncomingMessage, opts?: object) {
      const hasPrimary = req.headers[primary.header] !== undefined;
      if (!hasPrimary && queryParameter !== undefined && !/^bearer\s/i.test(req.headers.authorization ?? '')) {
        const key = new URL(req.url ?? '/', 'http://x').searchParams.get(queryParameter);
        if (key) {
          check(key, (error, user, info) => (error ? this.error(error) : user ? this.success(user, info as object) : this.fail('invalid api key')));
          return;
        }
      }
      this.apiKeyHeader = allowBearer && !hasPrimary && /^bearer\s/i.test(req.headers.authorization ?? '') ? bearer : primary;
      return authenticate.call(this, req as never, opts);
    };
  }
  const mcpSseHints: StrategyHints = { challenge: () => `ApiKey header="${headerName}"`, requestHeader: headerName };
  if (queryParameter !== undefined) mcpSseHints.queryParameter = queryParameter;
  return Object.assign(strategy, { mcpSseHints }) as unknown as PassportStrategy;
}

/** Keys shorter than this are refused: a short key can be guessed (16 random hex digits are 64 bits). */
export const minApiKeyLength = 16;

/**
 * What a key entry must not be: the strings an unset environment variable turns into (`keys: { [process.env.API_KEY]:
 * … }` makes the key `"undefined"`), or a key short enough to guess. The message never prints a real key.
 */
function checkKey(key: unknown, where: string): void {
  if (typeof key !== 'string' || key.length === 0) throw optionError(`apiKeyStrategy option "keys" must hold non-empty strings${where}.`);
  if (key.trim() === 'undefined' || key.trim() === 'null') {
    throw optionError(
      `apiKeyStrategy option "keys" holds the key ${JSON.stringify(key)}${where}: an environment variable that is not set (keys: { [process.env.API_KEY]: … })? Set it, or leave the strategy out when it is missing.`,
    );
  }
  if (key.length < minApiKeyLength) {
    throw optionError(
      `apiKeyStrategy option "keys" holds a key of ${key.length} characters${where}: keys need at least ${minApiKeyLength} (generate one with \`openssl rand -hex 32\`).`,
    );
  }
}

/** Constant-time lookup over every configured key; never returns early on a match. */
function keyLookup(keys: string[] | Record<string, string>): (key: string) => Principal | false {
  // In plain JavaScript a string is accepted by Object.entries(): `keys: 'abc'` would make "0", "1", "2" valid keys.
  const isRecord =
    typeof keys === 'object' && keys !== null && !Array.isArray(keys) && [Object.prototype, null].includes(Object.getPrototypeOf(keys));
  if (!Array.isArray(keys) && !isRecord) {
    throw optionError(
      `apiKeyStrategy option "keys" must be an array of keys or a record { key: principalName }, got ${describeValue(keys)}. For one key write keys: [key].`,
    );
  }
  const entries = Array.isArray(keys) ? keys.map((key) => [key, undefined] as const) : Object.entries(keys);
  if (entries.length === 0) throw optionError('apiKeyStrategy option "keys" must not be empty.');
  const digests = entries.map(([key, name], i) => {
    checkKey(key, Array.isArray(keys) ? ` (keys[${i}])` : '');
    if (name !== undefined && (typeof name !== 'string' || name === ''))
      throw optionError(`apiKeyStrategy option "keys" maps a key to an invalid principal name ${JSON.stringify(name)}.`);
    const digest = sha256(key);
    return { digest, principal: { id: name ?? `key:${digest.toString('hex').slice(0, 8)}` } };
  });
  return (key) => {
    const candidate = sha256(key);
    let found: Principal | false = false;
    for (const { digest, principal } of digests) if (timingSafeEqual(candidate, digest)) found = principal;
    return found;
  };
}
