// The package's one error class, its stable codes, and the JSON-RPC error envelope sent to clients.

/** Stable codes carried by every `McpSseError`. */
export const ErrorCodes = {
  createServer: 'ERR_MCP_SSE_CREATE_SERVER',
  closed: 'ERR_MCP_SSE_CLOSED',
  slowConsumer: 'ERR_MCP_SSE_SLOW_CONSUMER',
  resumeGap: 'ERR_MCP_SSE_RESUME_GAP',
  authStrategy: 'ERR_MCP_SSE_AUTH_STRATEGY',
  messageHandler: 'ERR_MCP_SSE_MESSAGE_HANDLER',
  bus: 'ERR_MCP_SSE_BUS',
  request: 'ERR_MCP_SSE_REQUEST',
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
export function errorEnvelope(
  id: string | number | null | undefined,
  code: number,
  message: string,
  reason: string,
): string {
  return JSON.stringify({ jsonrpc: '2.0', id: id ?? null, error: { code, message, data: { reason } } });
}
