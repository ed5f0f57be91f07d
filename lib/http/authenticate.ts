// Runs the configured Passport strategies on a private Passport instance and answers failures as JSON-RPC.
import type { Request, RequestHandler } from 'express';
import passport from 'passport';
import type { Strategy } from 'passport';
import { ErrorCodes, McpSseError } from '../errors.js';
import { logAuth } from '../log.js';
import { problems, replyError } from './reply.js';
import { bearerChallenge, hintsOf } from '../auth/hints.js';
import { recordStrategy, toAuthInfo, toPrincipal } from '../auth/principal.js';

export interface AuthenticateOptions {
  strategies: Strategy[];
  onFailure: () => void;
  report: (error: McpSseError, req: Request) => void;
}

/**
 * A middleware that tries each strategy in order (the first success wins), sets `req.user` to a Principal and
 * `req.authInfo` to SDK-shaped AuthInfo, or answers 401 (403 when a strategy refused a valid credential, e.g. a token
 * lacking a scope; 500 when a strategy errs) without echoing credentials.
 */
export function createAuthenticate({ strategies, onFailure, report }: AuthenticateOptions): RequestHandler {
  // A private instance: the app's global passport, its strategies and its sessions stay untouched.
  const instance = new passport.Passport();
  const namespaces = strategyNamespaces(strategies);
  // Passport tries strategies one after another until one succeeds: the last one tried is the one that did.
  const lastTried = new WeakMap<Request, number>();
  const names = strategies.map((strategy, i) => {
    const name = `express-mcp-sse-${i}`;
    instance.use(
      name,
      tracked(strategy, (req) => lastTried.set(req, i)),
    );
    return name;
  });
  return (req, res, next) => {
    const done = (error: unknown, user: unknown, info: unknown, status?: unknown): void => {
      if (error) {
        report(new McpSseError(ErrorCodes.authStrategy, 'An authentication strategy failed with an error.', { cause: error }), req);
        replyError(res, problems.authError());
        return;
      }
      if (!user) {
        onFailure();
        // Passport always calls back with one challenge per strategy here, since `names` is an array.
        const failures = Array.isArray(info) ? info : [info];
        const statuses = Array.isArray(status) ? status : [status];
        // A credential that was valid but not enough (RFC 6750 insufficient_scope) is 403, not a request to log in.
        const forbidden = statuses.indexOf(403);
        if (forbidden !== -1) return replyForbidden(res, strategies[forbidden], failures[forbidden]);
        const reason = failureReason(failures);
        logAuth('refused %s %s: %s', req.method, req.path, reason);
        replyError(res, problems.unauthenticated(reason, challenges(strategies, failures)));
        return;
      }
      const principal = toPrincipal(user);
      if (principal === undefined) {
        report(
          new McpSseError(ErrorCodes.authStrategy, 'A strategy authenticated a user without an id: return an object with a string "id" (or "sub").'),
          req,
        );
        replyError(res, problems.authError());
        return;
      }
      recordStrategy(principal, namespaces[lastTried.get(req) ?? 0]!);
      req.user = principal;
      (req as Request & { authInfo?: unknown }).authInfo = toAuthInfo(principal, info, req);
      next();
    };
    // A strategy calling pass() decided nothing: on a guarded route that is no principal, never a way through.
    try {
      instance.authenticate(names, passportOptions, done)(req, res, () => done(null, false, []));
    } catch (error) {
      // A strategy that throws instead of calling error(): the same 500, never Express's page with its stack.
      if (!res.headersSent) done(error, false, undefined);
    }
  };
}

const passportOptions = { session: false } as const;

/**
 * The namespace of each strategy's principals: its Passport name (`jwt`, `headerapikey`, `bearer`), with its
 * position added when several strategies share a name (two `jwtStrategy`s for two issuers are two namespaces).
 */
export function strategyNamespaces(strategies: Strategy[]): string[] {
  const names = strategies.map((strategy) => {
    const name = (strategy as { name?: unknown }).name;
    return typeof name === 'string' && name !== '' ? name : 'strategy';
  });
  return names.map((name, i) => (names.indexOf(name) === names.lastIndexOf(name) ? name : `${name}#${i}`));
}

/** The strategy, telling `onAttempt` about every request it authenticates; everything else inherited. */
function tracked(strategy: Strategy, onAttempt: (req: Request) => void): Strategy {
  const wrapper = Object.create(strategy) as Strategy;
  // Passport calls this on a per-request copy of the wrapper, so `this` stays that copy for the real strategy.
  const authenticate = strategy.authenticate as (this: Strategy, req: Request, options?: unknown) => void;
  wrapper.authenticate = function (this: Strategy, req: Request, options?: unknown) {
    onAttempt(req);
    authenticate.call(this, req, options);
  };
  return wrapper;
}

/** A short code for why every strategy failed; the most specific one wins. */
export function failureReason(failures: unknown[]): 'missing_credentials' | 'invalid_credentials' | 'token_expired' {
  let reason: 'missing_credentials' | 'invalid_credentials' = 'missing_credentials';
  for (const failure of failures) {
    const text = describeFailure(failure).toLowerCase();
    if (text.includes('expired')) return 'token_expired';
    if (text !== '' && !/no auth token|missing/.test(text) && !isBareChallenge(text)) reason = 'invalid_credentials';
  }
  return reason;
}

/**
 * A challenge with no `error=` parameter, such as `Bearer realm="Users"`: what passport-http-bearer fails with
 * when no token was sent (RFC 6750 §3.1: an error code only when credentials were presented).
 */
function isBareChallenge(text: string): boolean {
  return /^[\w-]+ [\w-]+="[^"]*"(?:, ?[\w-]+="[^"]*")*$/.test(text) && !/(?:^| |,)error=/.test(text);
}

function describeFailure(failure: unknown): string {
  if (typeof failure === 'string') return failure;
  if (failure instanceof Error) return failure.message;
  if (typeof failure === 'object' && failure !== null) {
    const record = failure as Record<string, unknown>;
    const inner = record.challenge ?? record.message;
    if (inner !== undefined) return describeFailure(inner);
  }
  return failure === undefined || failure === null ? '' : 'invalid';
}

/**
 * One challenge per strategy, each for that strategy's own failure (`error="invalid_token"` only where a token was
 * sent). Leading challenges (OAuth's `resource_metadata`) come first, since SDK clients read only a header whose first
 * challenge is `Bearer`; the others keep their order.
 */
function challenges(strategies: Strategy[], failures: unknown[]): string[] {
  const all = strategies.map((strategy, i) => {
    const reason = failureReason([failures[i]]);
    const hints = hintsOf(strategy);
    return { leads: hints?.leadsChallenges === true, text: hints?.challenge(reason, failures[i]) ?? bearerChallenge(reason) };
  });
  return [...all.filter((c) => c.leads), ...all.filter((c) => !c.leads)].map((c) => c.text);
}

/** 403 for a strategy that failed with that status; its challenge when it has one (`error="insufficient_scope"`). */
function replyForbidden(res: Parameters<RequestHandler>[1], strategy: Strategy | undefined, failure: unknown): void {
  const reason = /scope/i.test(describeFailure(failure)) ? 'insufficient_scope' : 'forbidden';
  const challenge = strategy === undefined ? undefined : hintsOf(strategy)?.challenge(reason, failure);
  logAuth('forbidden: %s', reason);
  replyError(res, problems.forbidden(reason, challenge));
}
