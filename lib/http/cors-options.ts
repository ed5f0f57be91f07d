// The `cors` option's type: the cors package's own options, declared here so consumers need no `@types/cors`.

/** A fixed answer for `origin`: `true` reflects the request's origin, `false` sends no CORS headers. */
export type CorsStaticOrigin = boolean | string | RegExp | Array<boolean | string | RegExp>;

/** Decides `origin` per request: call back with an error, or with the origin to allow. */
export type CorsCustomOrigin = (requestOrigin: string | undefined, callback: (err: Error | null, origin?: CorsStaticOrigin) => void) => void;

/**
 * Options of the [`cors`](https://github.com/expressjs/cors#configuration-options) package, field for field as
 * `@types/cors` declares them (a type test keeps the two identical). The router's defaults for MCP apply under
 * them: `methods` of the route, MCP's request headers allowed, auth challenge and rate-limit headers exposed,
 * `maxAge` 600.
 */
export interface CorsOptions {
  /** Allowed origins. The `cors` package defaults to `'*'`. */
  origin?: CorsStaticOrigin | CorsCustomOrigin | undefined;
  /** `Access-Control-Allow-Methods`. Defaults to the route's methods. */
  methods?: string | string[] | undefined;
  /** `Access-Control-Allow-Headers`. Defaults to MCP's request headers and the strategies' credential headers. */
  allowedHeaders?: string | string[] | undefined;
  /** `Access-Control-Expose-Headers`. Defaults to `WWW-Authenticate`, `Retry-After` and the `RateLimit` headers. */
  exposedHeaders?: string | string[] | undefined;
  /** Sends `Access-Control-Allow-Credentials: true`. Defaults to `false`. */
  credentials?: boolean | undefined;
  /** `Access-Control-Max-Age` in seconds. Defaults to `600`. */
  maxAge?: number | undefined;
  /** Passes preflights on to the next handler. Defaults to `false`. */
  preflightContinue?: boolean | undefined;
  /** Status of a successful preflight. Defaults to `204`. */
  optionsSuccessStatus?: number | undefined;
}
