// Structural types shared by the package: MCP messages, servers and auth info, without depending on the SDK.
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';

/** A JSON-RPC 2.0 message as MCP uses it (request, notification, response or error). */
export interface JSONRPCMessage {
  jsonrpc: '2.0';
  id?: string | number;
  method?: string;
  params?: unknown;
  result?: unknown;
  error?: { code: number; message: string; data?: unknown };
}

/** A JSON-RPC notification, as given to `broadcast()`; `jsonrpc` is added when missing. */
export interface NotificationLike {
  method: string;
  params?: Record<string, unknown>;
  jsonrpc?: '2.0';
}

/** Auth info in the shape the MCP SDK hands to request handlers as `extra.authInfo`. */
export interface AuthInfo {
  token: string;
  clientId: string;
  scopes: string[];
  expiresAt?: number;
  /** The resource (RFC 8707) the token was issued for, when the strategy checks one (`oauthStrategy`). */
  resource?: URL;
  extra?: Record<string, unknown>;
}

/**
 * A Passport strategy, structurally: any `passport-*` strategy instance (passport-jwt, passport-http-bearer, a
 * subclass of `passport-strategy`…) fits, without this package's types depending on `@types/passport`, whose
 * global `Express.Request` augmentation would otherwise reach every consumer.
 */
export interface PassportStrategy {
  name?: string | undefined;
  authenticate(req: IncomingMessage, options?: unknown): unknown;
}

/** Anything authenticated by a Passport strategy, normalised to carry a string `id`. */
export interface Principal {
  id: string;
  [key: string]: unknown;
}

/** What `createServer()` learns about the session it builds a server for. */
export interface SessionContext {
  /** The wire the client speaks: HTTP+SSE (`/sse`) or Streamable HTTP (the mount point). */
  transport: 'sse' | 'streamable-http';
  /**
   * The session's id (`Mcp-Session-Id` on Streamable HTTP, `sessionId` on HTTP+SSE); `undefined` for the server of
   * one stateless (2026-07-28) request, which lives only as long as that request (or its listen stream).
   */
  sessionId: string | undefined;
  /** The authenticated principal; `undefined` when the route is not guarded. */
  user: Principal | undefined;
  /** SDK-shaped auth info; `undefined` when anonymous. */
  authInfo: AuthInfo | undefined;
  /** Headers of the request that opened the session. */
  headers: IncomingHttpHeaders;
  /**
   * The protocol version the client asked for: in `initialize` on Streamable HTTP, in the request's `_meta` for a
   * stateless request; `undefined` on HTTP+SSE, where the version is negotiated after the stream opens.
   */
  protocolVersion: string | undefined;
  /**
   * True when this instance rebuilt the session after its owner was gone (durable sessions with the Redis bus):
   * the server sees the client's `initialize` and state requests again, but not the old server's memory; restore
   * your own state from your store. `false` for every session created the normal way.
   */
  adopted: boolean;
}

/** The SDK `Transport` interface, structurally (v1 `@modelcontextprotocol/sdk` and v2 alike). */
export interface TransportLike {
  start(): Promise<void>;
  send(message: JSONRPCMessage, options?: unknown): Promise<void>;
  close(): Promise<void>;
  onclose?: (() => void) | undefined;
  onerror?: ((error: Error) => void) | undefined;
  onmessage?: ((message: JSONRPCMessage, extra?: MessageExtra) => void) | undefined;
  sessionId?: string | undefined;
}

/** Extra info passed with each client message, as the SDK's `MessageExtraInfo`. */
export interface MessageExtra {
  authInfo?: AuthInfo;
  requestInfo?: { headers: IncomingHttpHeaders };
  /** Streamable HTTP, clients at 2025-11-25 or later: ends this request's stream now; the client resumes it later. */
  closeSSEStream?: () => void;
  /** Streamable HTTP, clients at 2025-11-25 or later: ends the standalone stream now; the client resumes it later. */
  closeStandaloneSSEStream?: () => void;
}

/** An MCP server: SDK v1 `McpServer`/`Server` or SDK v2 `McpServer`. */
export interface ServerLike {
  // biome-ignore lint/suspicious/noExplicitAny: keeps both SDKs' transport parameter types assignable to this one.
  connect(transport: any): Promise<void>;
  close?(): Promise<void>;
}
