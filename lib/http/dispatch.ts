// Routes a request to the middleware chain of its path and method in one step: the router sits on every
// POST's hot path, and Express's per-route layer stack costs more than the comparison it makes.
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { log } from '../log.js';

/** The chains of one path: `byMethod` for the methods it serves, `other` for everything else (405, preflights). */
export interface PathChains {
  byMethod: Partial<Record<string, RequestHandler[]>>;
  other: RequestHandler[];
}

/** Middleware of other packages in the router's chains (cors, Passport's strategies, express-rate-limit). */
const foreign = new WeakSet<RequestHandler>();

/**
 * Marks middleware of another package. It might write to a response after the response ended, which Node reports
 * as an `'error'` event on the response, fatal to the process when nothing listens: a chain holding one gives each
 * response a listener first. The router's own middleware and handlers never write after the end, so the chains
 * made of them alone skip that listener, which costs a call about 1.5% of its CPU (a request object is new to V8).
 */
export function fromAnotherPackage<T extends RequestHandler>(middleware: T): T {
  foreign.add(middleware);
  return middleware;
}

interface Chain {
  handlers: RequestHandler[];
  /** True when the chain holds middleware `fromAnotherPackage`. */
  listensForErrors: boolean;
}

/** A middleware that runs the chain for `req.path` and `req.method`, or passes requests for other paths on. */
export function dispatch(routes: Record<string, PathChains>): RequestHandler {
  const chainOf = (handlers: RequestHandler[]): Chain => ({ handlers, listensForErrors: handlers.some((handler) => foreign.has(handler)) });
  const table = new Map(
    Object.entries(routes).map(([path, { byMethod, other }]) => {
      const methods = new Map(Object.entries(byMethod).map(([method, handlers]) => [method, chainOf(handlers ?? [])]));
      return [normalize(path), { methods, other: chainOf(other) }];
    }),
  );
  return (req, res, next) => {
    const path = pathOf(req);
    const chains = table.get(path) ?? table.get(normalize(path));
    if (chains === undefined) return next();
    const chain = chains.methods.get(req.method) ?? chains.other;
    // Nothing this router answers may end the process: a late error is logged, never unhandled.
    if (chain.listensForErrors) res.on('error', responseError);
    runChain(chain.handlers, req, res, next);
  };
}

/**
 * `req.path`, cut from `req.url` when it is a plain path: Express's getter parses the URL again (the mount changed
 * it), and stores the result on the request, which costs V8 more than the rest of the routing.
 */
function pathOf(req: Request): string {
  const url = req.url;
  if (url.charCodeAt(0) !== 0x2f /* / */) return req.path;
  const query = url.indexOf('?');
  return query === -1 ? url : url.slice(0, query);
}

/** Express's matching rules: case-insensitive, a trailing slash ignored. */
function normalize(path: string): string {
  const lower = path.toLowerCase();
  return lower.length > 1 && lower.endsWith('/') ? lower.slice(0, -1) : lower;
}

/** Runs middleware in order, as Express would: an error or the end of the chain goes to `done`. */
function runChain(chain: RequestHandler[], req: Request, res: Response, done: NextFunction): void {
  let index = 0;
  const next = (error?: unknown): void => {
    if (error !== undefined && error !== null && error !== 'route') return done(error);
    const handler = chain[index++];
    if (handler === undefined) return done();
    try {
      handler(req, res, next);
    } catch (thrown) {
      done(thrown);
    }
  };
  next();
}

function responseError(error: Error): void {
  log('response error (ignored; the response is over): %s', error.message);
}
