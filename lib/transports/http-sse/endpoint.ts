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
 * `{mount prefix or publicBaseUrl}{messagesPath}?{query}` where the query keeps the base URL's own parameters
 * and the opening GET's (minus private ones), with `sessionId` set last.
 */
export function endpointUrl(req: Request, options: EndpointOptions, sessionId: string): string {
  const base = options.publicBaseUrl ?? req.baseUrl;
  const question = base.indexOf('?');
  const basePath = question === -1 ? base : base.slice(0, question);
  const params = new URLSearchParams(question === -1 ? '' : base.slice(question + 1));
  const url = req.originalUrl;
  const query = url.indexOf('?');
  if (query !== -1) {
    for (const [name, value] of new URLSearchParams(url.slice(query + 1))) {
      if (!options.privateParams.has(baseName(name))) params.append(name, value);
    }
  }
  params.set('sessionId', sessionId);
  return `${basePath}${options.messagesPath}?${params.toString()}`;
}
