// Turns whatever a Passport strategy authenticated into a Principal with a string id and SDK-shaped AuthInfo.
import type { IncomingMessage } from 'node:http';
import type { AuthInfo, Principal } from '../types.js';

/** The principal of a strategy's user, or `undefined` when no id can be found on it. */
export function toPrincipal(user: unknown): Principal | undefined {
  if (typeof user === 'string' && user !== '') return { id: user };
  if (typeof user !== 'object' || user === null) return undefined;
  const record = user as Record<string, unknown>;
  if (typeof record.id === 'string' && record.id !== '') return record as Principal;
  for (const key of ['id', 'sub', 'username', 'email', 'name']) {
    const value = record[key];
    if ((typeof value === 'string' && value !== '') || typeof value === 'number') return { ...record, id: String(value) };
  }
  return undefined;
}

/** AuthInfo for the SDK's `extra.authInfo`: the strategy's own when it gave one, else built from the request. */
export function toAuthInfo(principal: Principal, info: unknown, req: IncomingMessage): AuthInfo {
  const given = typeof info === 'object' && info !== null ? (info as Partial<AuthInfo> & { scope?: unknown }) : {};
  const authInfo: AuthInfo = {
    token: typeof given.token === 'string' ? given.token : (bearerToken(req) ?? ''),
    // OAuth's client (`client_id`) is not its principal (`sub`); other strategies' client is the principal.
    clientId: typeof given.clientId === 'string' && given.clientId !== '' ? given.clientId : principal.id,
    scopes: Array.isArray(given.scopes) ? given.scopes.map(String) : parseScopes(given.scope ?? principal.scope ?? principal.scopes),
    extra: given.extra === undefined ? { user: principal } : { ...given.extra, user: principal },
  };
  const expiresAt = given.expiresAt ?? principal.exp;
  if (typeof expiresAt === 'number') authInfo.expiresAt = expiresAt;
  if (given.resource instanceof URL) authInfo.resource = given.resource;
  return authInfo;
}

/** Scopes from an OAuth-style `scope` string ("a b") or an array. */
export function parseScopes(value: unknown): string[] {
  if (typeof value === 'string') return value.split(/\s+/).filter(Boolean);
  if (Array.isArray(value)) return value.map(String);
  return [];
}

function bearerToken(req: IncomingMessage): string | undefined {
  const header = req.headers.authorization;
  return header !== undefined && /^bearer\s+/i.test(header) ? header.replace(/^bearer\s+/i, '') : undefined;
}

/**
 * Which strategy authenticated each principal. Module-private, so nothing a strategy returns (a claim, a field,
 * a copied object) can name another strategy; a WeakMap, so principals are never kept alive by it.
 */
const strategyOf = new WeakMap<object, string>();

/**
 * @internal Records the strategy that authenticated `principal`. The first record stands: a principal object an
 * app hands out to several strategies keeps one key for the life of its sessions.
 */
export function recordStrategy(principal: Principal, strategy: string): void {
  if (!strategyOf.has(principal)) strategyOf.set(principal, strategy);
}

/**
 * What session binding, `maxSessionsPerUser`, rate limits and the session bus compare: the authenticating
 * strategy and the id, as `<strategy>:<id>` (the strategy URI-encoded, so the first `:` separates them). A JWT
 * whose `sub` is `key:1a2b3c4d` is `jwt:key:1a2b3c4d`, never the API-key principal `headerapikey:key:1a2b3c4d`.
 * A `req.user` this router did not authenticate (an app's own session login on an unguarded route) has the
 * empty strategy. `undefined` when there is no principal or it has no id.
 */
export function principalKey(principal: Principal | undefined): string | undefined {
  if (typeof principal !== 'object' || principal === null) return undefined;
  const id: unknown = principal.id;
  if (typeof id !== 'string' && typeof id !== 'number') return undefined;
  return `${encodeURIComponent(strategyOf.get(principal) ?? '')}:${id}`;
}

/** The key of the principal the auth middleware put on the request, if any. */
export function principalKeyOf(req: IncomingMessage): string | undefined {
  return principalKey(principalOf(req));
}

/** The principal the auth middleware put on the request, if any. */
export function principalOf(req: IncomingMessage): Principal | undefined {
  return (req as IncomingMessage & { user?: Principal }).user;
}

/**
 * The auth info of each authenticated request. Not a property of the request: Node gives every request object a map
 * of its own, so each property added to one costs V8 a copy of its whole layout (~15k instructions, on every call).
 */
const authInfoByRequest = new WeakMap<IncomingMessage, AuthInfo>();

/** @internal Records what the auth middleware made of the request's credential. */
export function setAuthInfo(req: IncomingMessage, authInfo: AuthInfo): void {
  authInfoByRequest.set(req, authInfo);
}

/** The auth info the auth middleware recorded for the request, if any. */
export function authInfoOf(req: IncomingMessage): AuthInfo | undefined {
  return authInfoByRequest.get(req);
}
