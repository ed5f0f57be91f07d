// Type tests of the public API: what an app's code may write against it, checked by the compiler (vitest typecheck).
import type { IncomingHttpHeaders } from 'node:http';
import type { AuthInfo as SdkAuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { McpServer as McpServerV2 } from '@modelcontextprotocol/server';
import type { CorsOptions as CorsPackageOptions } from 'cors';
import type { Request, RequestHandler, Router } from 'express';
import type { Options as RateLimitOptions } from 'express-rate-limit';
import type { Strategy as PassportPackageStrategy } from 'passport';
import type { Strategy as PassportJwtStrategy } from 'passport-jwt';
import { describe, expectTypeOf, it } from 'vitest';
import {
  apiKeyStrategy,
  createMcpSseRouter,
  jwtStrategy,
  type AuthInfo,
  type CorsOptions,
  type CustomEvent,
  type ErrorContext,
  type McpSseError,
  type McpSseRouter,
  type McpSseRouterOptions,
  type PassportStrategy,
  type Principal,
  type ServerLike,
  type SessionContext,
  type SessionRegistry,
  type SSETransport,
  type SessionTransport,
  type StreamableHTTPTransport,
} from '../../lib/index.js';

declare const server: ServerLike;

describe('createMcpSseRouter options', () => {
  it('needs createServer, sync or async', () => {
    expectTypeOf(createMcpSseRouter).parameter(0).toEqualTypeOf<McpSseRouterOptions>();
    expectTypeOf<McpSseRouterOptions['createServer']>().returns.toEqualTypeOf<ServerLike | Promise<ServerLike>>();
    // @ts-expect-error createServer is required
    createMcpSseRouter({});
  });

  it('rejects misspelt keys, top-level and nested', () => {
    // @ts-expect-error keepAliveMS is not an option (keepAliveMs is)
    createMcpSseRouter({ createServer: () => server, keepAliveMS: 1_000 });
    // @ts-expect-error orign is not a cors option (origin is)
    createMcpSseRouter({ createServer: () => server, cors: { orign: 'https://app.example.com' } });
    // @ts-expect-error windowMS is not an express-rate-limit option (windowMs is)
    createMcpSseRouter({ createServer: () => server, rateLimit: { messages: { windowMS: 1_000 } } });
    // @ts-expect-error endpoint is not an auth option (endpoints is)
    createMcpSseRouter({ createServer: () => server, auth: { strategies: [], endpoint: { sse: true } } });
    // @ts-expect-error ssePath takes a string
    createMcpSseRouter({ createServer: () => server, ssePath: 1 });
  });

  it('takes the cors package options exactly as @types/cors declares them, or false', () => {
    expectTypeOf<CorsOptions>().toEqualTypeOf<CorsPackageOptions>();
    expectTypeOf<McpSseRouterOptions['cors']>().toEqualTypeOf<CorsOptions | false | undefined>();
  });

  it('takes express-rate-limit options per route, or false', () => {
    expectTypeOf<NonNullable<McpSseRouterOptions['rateLimit']>>().toEqualTypeOf<
      { sse?: Partial<RateLimitOptions> | false; messages?: Partial<RateLimitOptions> | false; mcp?: Partial<RateLimitOptions> | false } | false
    >();
  });

  it('takes any Passport strategy, and its own strategies fit passport.use()', () => {
    expectTypeOf<PassportPackageStrategy>().toExtend<PassportStrategy>();
    expectTypeOf<PassportJwtStrategy>().toExtend<PassportStrategy>();
    expectTypeOf<PassportStrategy>().toExtend<PassportPackageStrategy>();
    expectTypeOf(jwtStrategy).returns.toEqualTypeOf<PassportStrategy>();
    expectTypeOf(apiKeyStrategy).returns.toEqualTypeOf<PassportStrategy>();
    expectTypeOf<NonNullable<McpSseRouterOptions['auth']>['strategies']>().toEqualTypeOf<PassportStrategy[]>();
  });

  it('calls onError with the error and where it happened', () => {
    expectTypeOf<NonNullable<McpSseRouterOptions['onError']>>().parameters.toEqualTypeOf<[McpSseError, ErrorContext]>();
    expectTypeOf<ErrorContext>().toEqualTypeOf<{ sessionId?: string; req?: Request }>();
    expectTypeOf<McpSseError['code']>().toBeString();
  });

  it('accepts SDK v1 and v2 servers as ServerLike', () => {
    expectTypeOf<McpServer>().toExtend<ServerLike>();
    expectTypeOf<McpServerV2>().toExtend<ServerLike>();
  });
});

describe('SessionContext', () => {
  it('tells createServer who opened the session and how, with SDK-shaped auth info', () => {
    expectTypeOf<SessionContext>().toHaveProperty('transport').toEqualTypeOf<'sse' | 'streamable-http'>();
    // `undefined` for the server of one stateless (2026-07-28) request.
    expectTypeOf<SessionContext>().toHaveProperty('sessionId').toEqualTypeOf<string | undefined>();
    expectTypeOf<SessionContext>().toHaveProperty('protocolVersion').toEqualTypeOf<string | undefined>();
    expectTypeOf<SessionContext>().toHaveProperty('user').toEqualTypeOf<Principal | undefined>();
    expectTypeOf<SessionContext>().toHaveProperty('authInfo').toEqualTypeOf<AuthInfo | undefined>();
    expectTypeOf<SessionContext>().toHaveProperty('headers').toEqualTypeOf<IncomingHttpHeaders>();
    expectTypeOf<Principal['id']>().toEqualTypeOf<string>();
    expectTypeOf<AuthInfo>().toExtend<SdkAuthInfo>();
  });
});

describe('McpSseRouter', () => {
  it('is an Express router with its sessions and a draining close()', () => {
    expectTypeOf(createMcpSseRouter).returns.toEqualTypeOf<McpSseRouter>();
    expectTypeOf<McpSseRouter>().toExtend<Router>();
    expectTypeOf<McpSseRouter['sessions']>().toEqualTypeOf<SessionRegistry>();
    expectTypeOf<McpSseRouter['close']>().toEqualTypeOf<(options?: { timeoutMs?: number }) => Promise<void>>();
  });

  it('has a readiness handler for app.get()', () => {
    expectTypeOf<McpSseRouter['health']>().toEqualTypeOf<RequestHandler>();
  });
});

describe('SessionRegistry', () => {
  it('broadcasts with an optional filter over transports and says how many it reached', () => {
    expectTypeOf<SessionRegistry['broadcast']>().parameter(1).toEqualTypeOf<((transport: SessionTransport) => boolean) | undefined>();
    expectTypeOf<SessionRegistry['broadcast']>().returns.toEqualTypeOf<number>();
    expectTypeOf<SessionRegistry['broadcast']>().toBeCallableWith({ method: 'notifications/resources/list_changed' });
    expectTypeOf<SessionRegistry['broadcast']>().toBeCallableWith(
      { method: 'x', params: { a: 1 } },
      (t: SessionTransport) => t.transport === 'sse' && t.user?.id === 'alice',
    );
  });

  it('finds, counts, iterates and closes sessions', () => {
    expectTypeOf<SessionRegistry['get']>().toEqualTypeOf<(sessionId: string) => SessionTransport | undefined>();
    expectTypeOf<SessionTransport>().toEqualTypeOf<SSETransport | StreamableHTTPTransport>();
    expectTypeOf<SessionRegistry['size']>().toEqualTypeOf<number>();
    expectTypeOf<SessionRegistry>().toExtend<Iterable<SessionTransport>>();
    expectTypeOf<SessionRegistry['close']>().toEqualTypeOf<(sessionId: string) => Promise<boolean>>();
    expectTypeOf<SessionRegistry['closeAll']>().toEqualTypeOf<() => Promise<void>>();
  });
});

describe('SSETransport', () => {
  it('is an SDK Transport', () => {
    expectTypeOf<SSETransport>().toExtend<Transport>();
  });

  it('has the extra send methods and ping()', () => {
    expectTypeOf<SSETransport['sendNotification']>().toEqualTypeOf<(method: string, params?: Record<string, unknown>) => Promise<void>>();
    expectTypeOf<SSETransport['sendProgress']>().toEqualTypeOf<
      (progressToken: string | number, progress: number, total?: number, message?: string) => Promise<void>
    >();
    expectTypeOf<SSETransport['sendEvent']>().toEqualTypeOf<(event: CustomEvent) => Promise<void>>();
    expectTypeOf<SSETransport['sendEvent']>().toBeCallableWith({ event: 'status', data: { ok: true } });
    expectTypeOf<SSETransport['sendEvent']>().toBeCallableWith({ event: 'log', data: 'line one\nline two', id: 'mine-1' });
    expectTypeOf<SSETransport['ping']>().toEqualTypeOf<() => boolean>();
  });

  it('tells who opened the session', () => {
    expectTypeOf<SSETransport['sessionId']>().toEqualTypeOf<string>();
    expectTypeOf<SSETransport['user']>().toEqualTypeOf<Principal | undefined>();
    expectTypeOf<SSETransport['authInfo']>().toEqualTypeOf<AuthInfo | undefined>();
  });
});
