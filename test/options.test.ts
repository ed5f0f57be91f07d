import { describe, expect, it } from 'vitest';
import { resolveOptions, type McpSseRouterOptions } from '../lib/options.js';
import { apiKeyStrategy, createMcpSseRouter, InMemorySessionBus, jwtStrategy } from '../lib/index.js';

const createServer = () => ({ connect: async () => {} });
const resolve = (extra: Record<string, unknown>) => resolveOptions({ createServer, ...extra } as McpSseRouterOptions);

describe('option errors', () => {
  it.each([
    ['the router', () => resolve({ keepAliveMs: -1 })],
    ['an unknown key', () => resolve({ keepAlive: 1 })],
    ['streamableHttpPath equal to ssePath', () => resolve({ streamableHttpPath: '/sse' })],
    ['auth.endpoints', () => resolve({ auth: { strategies: [apiKeyStrategy({ keys: ['k-0123456789abcdef'] })], endpoints: { nope: true } } })],
    ['jwtStrategy', () => jwtStrategy({ secret: '' })],
    ['apiKeyStrategy', () => apiKeyStrategy({ keys: [] })],
  ])('are TypeErrors with code ERR_MCP_SSE_INVALID_OPTION: %s', (_what, create) => {
    let thrown: unknown;
    try {
      create();
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(TypeError);
    expect(thrown).toMatchObject({ code: 'ERR_MCP_SSE_INVALID_OPTION' });
  });
});

describe('resolveOptions', () => {
  it('applies the defaults of DESIGN.md', () => {
    const o = resolveOptions({ createServer });
    expect(o).toMatchObject({
      ssePath: '/sse',
      messagesPath: '/messages',
      keepAliveMs: 15_000,
      retryMs: 5_000,
      maxMessageSize: 4 * 1024 * 1024,
      maxBatchSize: 100,
      bodyTimeoutMs: 39_000,
      maxSessions: Infinity,
      maxSessionsPerUser: Infinity,
      resumeWindowMs: 30_000,
      replayBufferSize: 128,
      maxBufferedBytes: 4 * 1024 * 1024,
      cors: false,
      rateLimitSse: false,
      rateLimitMessages: false,
      strategies: [],
      guardSse: false,
      guardMessages: false,
      guardMcp: false,
      streamableHttpPath: '/',
      jsonResponse: false,
      sessionIdleMs: 600_000,
      rateLimitMcp: false,
    });
  });

  it('treats undefined like an option not given', () => {
    expect(resolve({ keepAliveMs: undefined, cors: undefined }).keepAliveMs).toBe(15_000);
  });

  it('parses sizes', () => {
    expect(resolve({ maxMessageSize: '512kb' }).maxMessageSize).toBe(512 * 1024);
    expect(resolve({ maxMessageSize: '1.5mb' }).maxMessageSize).toBe(1.5 * 1024 * 1024);
    expect(resolve({ maxMessageSize: 100 }).maxMessageSize).toBe(100);
  });

  it('derives the default bodyTimeoutMs from maxMessageSize: 5 s plus its time at 1 Mbit/s, in whole seconds', () => {
    expect(resolve({ maxMessageSize: '64kb' }).bodyTimeoutMs).toBe(6_000);
    expect(resolve({ maxMessageSize: '10mb' }).bodyTimeoutMs).toBe(89_000);
    expect(resolve({ maxMessageSize: '64kb', bodyTimeoutMs: 0 }).bodyTimeoutMs).toBe(0);
    expect(resolve({ maxMessageSize: '512gb' }).bodyTimeoutMs).toBe(2 ** 31 - 1);
  });

  it('guards both routes once strategies are given, unless a toggle turns one off', () => {
    const strategies = [apiKeyStrategy({ keys: ['k-0123456789abcdef'] })];
    expect(resolve({ auth: { strategies } })).toMatchObject({ guardSse: true, guardMessages: true });
    expect(resolve({ auth: { strategies, endpoints: { sse: false } } })).toMatchObject({ guardSse: false, guardMessages: true });
  });

  it.each([
    [{ createServer: 'nope' }, /"createServer" must be a function/],
    [{ ssePaht: '/x' }, /Unknown option "ssePaht"/],
    [{ keepAliveMs: -1 }, /"keepAliveMs" must be an integer >= 0, got -1/],
    [{ retryMs: 1.5 }, /"retryMs"/],
    [{ maxMessageSize: '4 parsecs' }, /"maxMessageSize" must be a byte count or a size like "4mb", got "4 parsecs"/],
    [{ maxBatchSize: 0 }, /"maxBatchSize" must be an integer >= 1, got 0/],
    [{ maxBatchSize: '100' }, /"maxBatchSize" must be an integer >= 1, got "100"/],
    [{ bodyTimeoutMs: -5 }, /"bodyTimeoutMs" must be an integer >= 0, got -5/],
    [{ bodyTimeoutMs: 2 ** 31 }, /"bodyTimeoutMs" must be at most 2147483647 ms/],
    [{ maxSessions: 0 }, /"maxSessions" must be an integer >= 1 or Infinity/],
    [{ maxSessionsPerUser: -3 }, /"maxSessionsPerUser"/],
    [{ ssePath: 'sse' }, /"ssePath" must be a path starting with "\/"/],
    [{ messagesPath: '/bad path' }, /"messagesPath"/],
    [{ headers: { 'X-A': 'a\r\nInjected: 1' } }, /"headers.X-A" must be a string without CR or LF/],
    [{ headers: { 'bad header': 'x' } }, /invalid header name/],
    [{ allowedHosts: 'localhost' }, /"allowedHosts" must be an array of non-empty strings/],
    [{ allowedOrigins: [''] }, /"allowedOrigins"/],
    [{ publicBaseUrl: 'ftp://x' }, /"publicBaseUrl" must use http or https/],
    [{ publicBaseUrl: 'not a url' }, /"publicBaseUrl" must be an absolute http\(s\) URL or a path/],
    [{ resumeWindowMs: '30s' }, /"resumeWindowMs"/],
    [{ replayBufferSize: -1 }, /"replayBufferSize"/],
    [{ maxBufferedBytes: 0 }, /"maxBufferedBytes" must be an integer >= 1/],
    [{ bus: {} }, /"bus" must implement SessionBus \(missing attach\(\)\)/],
    [{ onError: 'log' }, /"onError" must be a function/],
    [{ cors: true }, /"cors" must be an options object or false/],
    [{ rateLimit: { message: {} } }, /Unknown option "rateLimit.message"/],
    [{ rateLimit: { messages: 5 } }, /"rateLimit.messages" must be an options object or false/],
    [{ auth: { strategies: [] } }, /"auth.strategies" must be a non-empty array/],
    [{ auth: { strategies: [{}] } }, /"auth.strategies\[0\]" must be a Passport strategy/],
    [{ auth: { strategies: [apiKeyStrategy({ keys: ['k-0123456789abcdef'] })], endpoints: { see: true } } }, /Unknown option "auth.endpoints.see"/],
    [
      { auth: { strategies: [apiKeyStrategy({ keys: ['k-0123456789abcdef'] })], endpoints: { sse: 'yes' } } },
      /"auth.endpoints.sse" must be true or false/,
    ],
  ])('throws a TypeError naming the option for %o', (extra, message) => {
    expect(() => resolve(extra)).toThrow(TypeError);
    expect(() => resolve(extra)).toThrow(message);
  });

  it('rejects a missing options object', () => {
    expect(() => resolveOptions(undefined as never)).toThrow(/needs an options object with createServer/);
  });

  it('accepts a custom bus', () => {
    const bus = new InMemorySessionBus();
    expect(resolve({ bus }).bus).toBe(bus);
  });
});

describe('strategy factories validate at creation', () => {
  it('jwtStrategy', () => {
    expect(() => jwtStrategy({} as never)).toThrow(/"secret" or "publicKey" is required/);
    expect(() => jwtStrategy({ secret: 's'.repeat(32), algorithms: ['none'] })).toThrow(/must not include "none"/);
    expect(() => jwtStrategy({ publicKey: 'pem' })).toThrow(/"algorithms" is required with "publicKey"/);
    expect(() => jwtStrategy({ publicKey: 'pem', algorithms: ['HS256'] })).toThrow(/algorithm confusion/);
    expect(() => jwtStrategy({ secret: 's'.repeat(32), clockTolerance: -1 })).toThrow(/"clockTolerance"/);
    expect(() => jwtStrategy({ secret: 's'.repeat(32), nope: 1 } as never)).toThrow(/Unknown jwtStrategy option "nope"/);
  });

  it('apiKeyStrategy', () => {
    expect(() => apiKeyStrategy({} as never)).toThrow(/"keys" or "verify" is required/);
    expect(() => apiKeyStrategy({ keys: [] })).toThrow(/must not be empty/);
    expect(() => apiKeyStrategy({ keys: [''] })).toThrow(/non-empty strings/);
    expect(() => apiKeyStrategy({ keys: ['k-0123456789abcdef'], headerName: 'x y' })).toThrow(/"headerName"/);
    expect(() => apiKeyStrategy({ keys: ['k-0123456789abcdef'], queryParameter: '' })).toThrow(/"queryParameter"/);
  });
});

describe('createMcpSseRouter', () => {
  it('validates at creation and returns a router with sessions and close()', async () => {
    expect(() => createMcpSseRouter({ createServer, keepAliveMs: -5 })).toThrow(/keepAliveMs/);
    const router = createMcpSseRouter({ createServer });
    expect(typeof router).toBe('function');
    expect(router.sessions.size).toBe(0);
    await router.close();
  });
});
