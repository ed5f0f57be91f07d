// DNS-rebinding guard: refuses requests whose Host or Origin is not on the configured lists.
import type { RequestHandler } from 'express';
import { problems, replyError } from './reply.js';

/** Returns a middleware checking `Host` and `Origin`, or `undefined` when neither list is configured. */
export function hostOriginGuard(allowedHosts: string[] | undefined, allowedOrigins: string[] | undefined): RequestHandler | undefined {
  if (allowedHosts === undefined && allowedOrigins === undefined) return undefined;
  const hostMatches = allowedHosts === undefined ? undefined : hostMatcher(allowedHosts);
  const origins = allowedOrigins === undefined ? undefined : new Set(allowedOrigins.map((o) => o.replace(/\/+$/, '')));
  return (req, res, next) => {
    if (hostMatches !== undefined && !hostMatches(req.headers.host)) return replyError(res, problems.badHost());
    const origin = req.headers.origin;
    // Non-browser clients send no Origin; only a present, unlisted one is refused.
    if (origins !== undefined && origin !== undefined && !origins.has(origin.toLowerCase())) return replyError(res, problems.badOrigin());
    next();
  };
}

/** Entries with a port match exactly; entries without one match that host on any port. */
function hostMatcher(entries: string[]): (host: string | undefined) => boolean {
  const exact = new Set<string>();
  const anyPort = new Set<string>();
  for (const entry of entries) (splitHost(entry).port === undefined ? anyPort : exact).add(entry);
  return (host) => {
    if (host === undefined) return false;
    const lower = host.toLowerCase();
    return exact.has(lower) || anyPort.has(splitHost(lower).name);
  };
}

function splitHost(host: string): { name: string; port: string | undefined } {
  const match = /^(\[[^\]]*\]|[^:]*)(?::(\d*))?$/.exec(host);
  return match === null ? { name: host, port: undefined } : { name: match[1]!, port: match[2] };
}
