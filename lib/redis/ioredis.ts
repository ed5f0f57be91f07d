// Loads ioredis (an optional peer dependency) when a Redis bus first needs it, with an error that says how to install it.
import { createRequire } from 'node:module';
import type { Redis as IoRedis } from 'ioredis';
import { ErrorCodes, McpSseError } from '../errors.js';

type RedisClass = typeof IoRedis;
type Require = (id: string) => unknown;

let loaded: RedisClass | undefined;

/**
 * The ioredis `Redis` class. A missing package gives `… needs ioredis: npm install ioredis` instead of Node's bare
 * `Cannot find module 'ioredis'`, and only when a Redis bus is created: importing this module costs nothing.
 */
export function loadIoredis(require?: Require): RedisClass {
  if (loaded !== undefined && require === undefined) return loaded;
  let module: { Redis?: RedisClass; default?: RedisClass };
  try {
    module = (require ?? defaultRequire())('ioredis') as typeof module;
  } catch (error) {
    if (!isMissing(error, 'ioredis')) throw error;
    throw new McpSseError(ErrorCodes.missingDependency, 'express-mcp-sse/redis needs ioredis, which is not installed: npm install ioredis', {
      cause: error,
    });
  }
  loaded = module.Redis ?? module.default ?? (module as unknown as RedisClass);
  return loaded;
}

/** Whether `error` is Node's "module not found" for `name` itself (not for something `name` imports). */
export function isMissing(error: unknown, name: string): boolean {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  return (code === 'MODULE_NOT_FOUND' || code === 'ERR_MODULE_NOT_FOUND') && typeof message === 'string' && message.includes(`'${name}'`);
}

function defaultRequire(): Require {
  return createRequire(typeof __filename === 'string' ? __filename : import.meta.url);
}

/**
 * Stands in for the ioredis class in `new Redis(url, options)`: loads the package on first use. A constructor that
 * returns an object makes `new` yield that object, so callers keep ioredis's own syntax and types.
 */
export const Redis = function Redis(...args: unknown[]) {
  const Class = loadIoredis() as unknown as new (...a: unknown[]) => IoRedis;
  return new Class(...args);
} as unknown as RedisClass;
export type Redis = IoRedis;
