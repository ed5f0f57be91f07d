// Builds the data of the `endpoint` event: where this session's client POSTs its messages.
import type { Request } from 'express';
import type { Strategy } from 'passport';
import { hintsOf } from '../../auth/hints.js';

export interface EndpointOptions {
  messagesPath: string;
  publicBaseUrl: string | undefined;
  /** Query parameters of the GET never copied into the endpoint (credentials, resume ids), lower-cased. */
  privateParams: ReadonlySet<string>;
}

/**
 * The query parameters never copied from the opening GET: `sessionId` (set by the router), `access_token` (RFC
 * 6750 §2.3, read by passport-http-bearer and most bearer strategies) and every parameter a strategy declares
 * as carrying credentials (the `queryParameter` of `jwtStrategy` and `apiKeyStrategy`).
 */
export function privateQueryParameters(strategies: Strategy[]): ReadonlySet<string> {
  const declared = strategies.flatMap((strategy) => hintsOf(strategy)?.queryParameter ?? []);
  return new Set(['sessionId', 'access_token', ...declared].map((name) => name.toLowerCase()));
}

/** A parameter's name as a server may read it: any case, and `name[]`/`name[0]` as the `qs` parser reads `name`. */
function baseName(name: string): string {
  const bracket = name.indexOf('[');
  return (bracket === -1 ? name : name.slice(0, bracket)).toLowerCase();
}

/**
 * An endpoint is `{prefix}sessionId={id}`. The prefix, `{mount prefix or publicBaseUrl}{messagesPath}?{query}`, keeps
 * the base URL's own parameters and the opening GET's (minus private ones); sessions opened alike share one prefix
 * string, and the whole URL is built only when written, so an idle session holds no URL of its own.
 */
export function endpointPrefix(req: Request, options: EndpointOptions): string {
  const base = options.publicBaseUrl ?? req.baseUrl;
  const question = base.indexOf('?');
  const basePath = question === -1 ? base : base.slice(0, question);
  const params = new URLSearchParams(question === -1 ? '' : base.slice(question + 1));
  params.delete('sessionId');
  const url = req.originalUrl;
  const query = url.indexOf('?');
  if (query !== -1) {
    for (const [name, value] of new URLSearchParams(url.slice(query + 1))) {
      if (!options.privateParams.has(baseName(name))) params.append(name, value);
    }
  }
  return shared(params.size === 0 ? `${basePath}${options.messagesPath}?` : `${basePath}${options.messagesPath}?${params.toString()}&`);
}

/** The endpoint of session `sessionId`, whose `sessionId` parameter comes last. */
export function endpointOf(prefix: string, sessionId: string): string {
  return `${prefix}${new URLSearchParams({ sessionId }).toString()}`;
}

/** The prefix of an endpoint `endpointOf` built (one a durable bus stored), or `undefined` for any other value. */
export function prefixOf(endpoint: string | undefined, sessionId: string): string | undefined {
  const own = new URLSearchParams({ sessionId }).toString();
  return endpoint?.endsWith(own) === true ? shared(endpoint.slice(0, -own.length)) : undefined;
}

/** The prefix of an adopted session: from the URL its previous owner stored, else as if `req` had opened it. */
export function adoptedPrefix(stored: string | undefined, sessionId: string, req: Request, options: EndpointOptions): string {
  return prefixOf(stored, sessionId) ?? endpointPrefix(req, options);
}

/** Prefixes seen, so that equal ones are one string; bounded, since a prefix carries the GET's query. */
const prefixes = new Map<string, string>();
const maxSharedPrefixes = 64;
const maxSharedPrefixLength = 512;

function shared(prefix: string): string {
  const known = prefixes.get(prefix);
  if (known !== undefined) return known;
  if (prefixes.size < maxSharedPrefixes && prefix.length <= maxSharedPrefixLength) prefixes.set(prefix, prefix);
  return prefix;
}
