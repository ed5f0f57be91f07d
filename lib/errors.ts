// The package's one error class, its stable codes, and the JSON-RPC error envelope sent to clients.

/** Stable codes, one meaning each: every `McpSseError` carries one, and option `TypeError`s carry `invalidOption`. */
export const ErrorCodes = {
  /** An option of `createMcpSseRouter()` or a strategy has a bad value (a `TypeError`, thrown at creation). */
  invalidOption: 'ERR_MCP_SSE_INVALID_OPTION',
  createServer: 'ERR_MCP_SSE_CREATE_SERVER',
  /** A message was sent on a session that is closed. */
  closed: 'ERR_MCP_SSE_CLOSED',
  /** A transport was connected to a second server. */
  alreadyStarted: 'ERR_MCP_SSE_ALREADY_STARTED',
  /** The MCP server threw while the router closed it. */
  serverClose: 'ERR_MCP_SSE_SERVER_CLOSE',
  slowConsumer: 'ERR_MCP_SSE_SLOW_CONSUMER',
  resumeGap: 'ERR_MCP_SSE_RESUME_GAP',
  authStrategy: 'ERR_MCP_SSE_AUTH_STRATEGY',
  messageHandler: 'ERR_MCP_SSE_MESSAGE_HANDLER',
  bus: 'ERR_MCP_SSE_BUS',
  request: 'ERR_MCP_SSE_REQUEST',
  /** An optional peer dependency a feature needs is not installed (`ioredis` for `express-mcp-sse/redis`). */
  missingDependency: 'ERR_MCP_SSE_MISSING_DEPENDENCY',
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

/** Errors reported through `onError` and thrown by transport methods. */
export class McpSseError extends Error {
  override readonly name = 'McpSseError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A `TypeError` for a bad option, with `code: 'ERR_MCP_SSE_INVALID_OPTION'` next to its message. */
export function optionError(message: string): TypeError & { code: typeof ErrorCodes.invalidOption } {
  return Object.assign(new TypeError(message), { code: ErrorCodes.invalidOption });
}

/** JSON-RPC error codes used in envelopes. */
export const JsonRpcCodes = {
  parseError: -32700,
  invalidRequest: -32600,
  internalError: -32603,
  serverError: -32000,
  /** Streamable HTTP: the `Mcp-Session-Id` names no live session. */
  sessionNotFound: -32001,
} as const;

/** Builds the body of an error response: `{"jsonrpc":"2.0","id":…,"error":{…}}`. */
export function errorEnvelope(id: string | number | null | undefined, code: number, message: string, reason: string): string {
  return JSON.stringify({ jsonrpc: '2.0', id: id ?? null, error: { code, message, data: { reason } } });
}
