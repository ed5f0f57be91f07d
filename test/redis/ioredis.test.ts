// Loading ioredis (an optional peer): a clear "npm install ioredis" when it is missing, ioredis's class when present.
import { Redis as IoRedis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { isMissing, loadIoredis } from '../../lib/redis/ioredis.js';

const notFound = (message: string, code = 'MODULE_NOT_FOUND') => Object.assign(new Error(message), { code });

describe('loadIoredis', () => {
  it('says how to install ioredis when it is missing', () => {
    const cause = notFound("Cannot find module 'ioredis'\nRequire stack: …");
    let thrown: unknown;
    try {
      loadIoredis(() => {
        throw cause;
      });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toMatchObject({
      name: 'McpSseError',
      code: 'ERR_MCP_SSE_MISSING_DEPENDENCY',
      message: 'express-mcp-sse/redis needs ioredis, which is not installed: npm install ioredis',
      cause,
    });
  });

  it('passes on other failures (a dependency of ioredis missing, a syntax error) unchanged', () => {
    const other = notFound("Cannot find module 'denque'");
    expect(() =>
      loadIoredis(() => {
        throw other;
      }),
    ).toThrow(other);
  });

  it('returns the Redis class of the installed package', () => {
    expect(loadIoredis()).toBe(IoRedis);
  });

  it('recognises the ESM and CommonJS not-found errors', () => {
    expect(isMissing(notFound("Cannot find package 'ioredis' imported from /x.js", 'ERR_MODULE_NOT_FOUND'), 'ioredis')).toBe(true);
    expect(isMissing(new Error("Cannot find module 'ioredis'"), 'ioredis')).toBe(false);
    expect(isMissing(undefined, 'ioredis')).toBe(false);
  });
});
