// Routes a request to the middleware chain of its path and method in one step: the router sits on every
// POST's hot path, and Express's per-route layer stack costs more than the comparison it makes.
import type { NextFunction, Request, RequestHandler, Response } from 'express';

/** The chains of one path: `byMethod` for the methods it serves, `other` for everything else (405, preflights). */
export interface PathChains {
  byMethod: Partial<Record<string, RequestHandler[]>>;
  other: RequestHandler[];
}

/** A middleware that runs the chain for `req.path` and `req.method`, or passes requests for other paths on. */
export function dispatch(routes: Record<string, PathChains>): RequestHandler {
  const table = new Map(Object.entries(routes).map(([path, chains]) => [normalize(path), chains]));
  return (req, res, next) => {
    const path = pathOf(req);
    const chains = table.get(path) ?? table.get(normalize(path));
    if (chains === undefined) return next();
    runChain(chains.byMethod[req.method] ?? chains.other, req, res, next);
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
