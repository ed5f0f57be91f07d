// Runs the configured Passport strategies through the router's own small chain and answers failures as JSON-RPC.
import type { Request, RequestHandler, Response } from 'express';
import type { Strategy } from 'passport';
import { ErrorCodes, McpSseError } from '../errors.js';
import { logAuth } from '../log.js';
import { problems, replyError } from './reply.js';
import { bearerChallenge, hintsOf } from '../auth/hints.js';
import { recordStrategy, setAuthInfo, toAuthInfo, toPrincipal } from '../auth/principal.js';

export interface AuthenticateOptions {
  strategies: Strategy[];
  onFailure: () => void;
  report: (error: McpSseError, req: Request) => void;
}

/** One request's way through the strategies: what each failed with, until one decides. */
interface Attempt {
  req: Request;
  res: Response;
  next: (error?: unknown) => void;
  /** What each failed strategy failed with, in order; made on the first failure (most requests have none). */
  challenges?: unknown[];
  statuses?: unknown[];
}

/** What a strategy sees as `this` for one request: the strategy itself, with Passport's actions bound to the attempt. */
interface Layer {
  attempt: Attempt;
  /** True once the strategy called one of its actions for this request: a second call (a buggy strategy) is ignored. */
  acted: boolean;
  authenticate(req: Request, options: object): void;
  success(user: unknown, info?: unknown): void;
  fail(challenge?: unknown, status?: unknown): void;
  error(error: unknown): void;
  pass(): void;
  redirect(url: string, status?: number): void;
}

/**
 * A middleware that tries each strategy in order (the first success wins), sets `req.user` to a Principal and
 * records SDK-shaped AuthInfo for the request (`authInfoOf`), or answers 401 (403 when a strategy refused a valid
 * credential, e.g. a token lacking a scope; 500 when a strategy errs) without echoing credentials.
 *
 * Each strategy's `authenticate` runs on a per-request object whose prototype is the strategy, with `success`,
 * `fail`, `error`, `pass` and `redirect` doing what Passport's `authenticate()` does with a callback and several
 * strategy names: so any Passport strategy works, without Passport's middleware (which also installs
 * `req.logIn` and the session manager, unused without sessions) on every request, and without touching the
 * app's global `passport`.
 */
export function createAuthenticate({ strategies, onFailure, report }: AuthenticateOptions): RequestHandler {
  const namespaces = strategyNamespaces(strategies);

  const succeeded = (attempt: Attempt, index: number, user: unknown, info: unknown): void => {
    const { req, res } = attempt;
    if (!user) return failed(attempt);
    const principal = toPrincipal(user);
    if (principal === undefined) {
      report(
        new McpSseError(ErrorCodes.authStrategy, 'A strategy authenticated a user without an id: return an object with a string "id" (or "sub").'),
        req,
      );
      replyError(res, problems.authError());
      return;
    }
    recordStrategy(principal, namespaces[index]!);
    req.user = principal;
    setAuthInfo(req, toAuthInfo(principal, info, req));
    attempt.next();
  };
  const failed = ({ req, res, challenges = [], statuses = [] }: Attempt): void => {
    onFailure();
    // A credential that was valid but not enough (RFC 6750 insufficient_scope) is 403, not a request to log in.
    const forbidden = statuses.indexOf(403);
    if (forbidden !== -1) return replyForbidden(res, strategies[forbidden], challenges[forbidden]);
    const reason = failureReason(challenges);
    logAuth('refused %s %s: %s', req.method, req.path, reason);
    replyError(res, problems.unauthenticated(reason, challengesFor(strategies, challenges)));
  };
  const erred = ({ req, res }: Attempt, error: unknown): void => {
    report(new McpSseError(ErrorCodes.authStrategy, 'An authentication strategy failed with an error.', { cause: error }), req);
    replyError(res, problems.authError());
  };

  // One prototype per strategy, built once: a request adds only its attempt (Passport adds five closures per try).
  const layers = strategies.map((strategy, index) => {
    const layer = Object.create(strategy) as unknown as Layer;
    layer.success = function (this: Layer, user, info) {
      if (firstAction(this)) succeeded(this.attempt, index, user, info);
    };
    layer.fail = function (this: Layer, challenge, status) {
      if (!firstAction(this)) return;
      const { attempt } = this;
      attempt.challenges ??= [];
      attempt.statuses ??= [];
      const { challenges, statuses } = attempt;
      // Passport's fail(status) form: a number alone is the status.
      if (typeof challenge === 'number') {
        challenges.push(undefined);
        statuses.push(challenge);
      } else {
        challenges.push(challenge);
        statuses.push(status);
      }
      tryFrom(attempt, index + 1);
    };
    layer.error = function (this: Layer, error) {
      if (firstAction(this)) erred(this.attempt, error);
    };
    // A strategy calling pass() decided nothing: on a guarded route that is no principal, never a way through.
    layer.pass = function (this: Layer) {
      if (!firstAction(this)) return;
      const { attempt } = this;
      attempt.challenges = undefined;
      attempt.statuses = undefined;
      failed(attempt);
    };
    layer.redirect = function (this: Layer, url, status) {
      if (!firstAction(this)) return;
      const { res } = this.attempt;
      res.statusCode = status ?? 302;
      res.setHeader('Location', url);
      res.setHeader('Content-Length', '0');
      res.end();
    };
    return layer;
  });

  const tryFrom = (attempt: Attempt, index: number): void => {
    const layer = layers[index];
    if (layer === undefined) return failed(attempt);
    const strategy = Object.create(layer) as Layer;
    strategy.attempt = attempt;
    strategy.acted = false;
    strategy.authenticate(attempt.req, passportOptions);
  };

  return (req, res, next) => {
    const attempt: Attempt = { req, res, next, challenges: undefined, statuses: undefined };
    try {
      tryFrom(attempt, 0);
    } catch (error) {
      // A strategy that throws instead of calling error(): the same 500, never Express's page with its stack.
      if (!res.headersSent) erred(attempt, error);
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
function challengesFor(strategies: Strategy[], failures: unknown[]): string[] {
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

/**
 * True the first time a strategy acts on a request. A strategy that calls a second action (success after fail, a
 * late redirect) would otherwise answer twice, or run the route twice, and a write after the end of a response ends
 * the process.
 */
function firstAction(layer: Layer): boolean {
  if (layer.acted) return false;
  layer.acted = true;
  return true;
}
