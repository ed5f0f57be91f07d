// Writing JSON-RPC error envelopes and 202s: the only way the handlers answer a request.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { DeliveryResult } from '../bus.js';
import { errorEnvelope, JsonRpcCodes } from '../errors.js';
import { log } from '../log.js';

type Id = string | number | null | undefined;

/** The stable `data.reason` of every error envelope this package writes; clients can switch on it. */
export type ErrorReason =
  | 'missing_session_id'
  | 'parse_error'
  | 'invalid_request'
  | 'nesting_too_deep'
  | 'batch_too_large'
  | 'already_initialized'
  | 'unsupported_protocol_version'
  | 'unknown_event_id'
  | 'missing_credentials'
  | 'invalid_credentials'
  | 'token_expired'
  | 'forbidden_session'
  | 'forbidden'
  | 'insufficient_scope'
  | 'host_not_allowed'
  | 'origin_not_allowed'
  | 'session_not_found'
  | 'method_not_allowed'
  | 'not_acceptable'
  | 'body_timeout'
  | 'stream_attached'
  | 'message_too_large'
  | 'unsupported_media_type'
  | 'unsupported_encoding'
  | 'rate_limited'
  | 'too_many_sessions'
  | 'create_server_failed'
  | 'auth_error'
  | 'internal_error'
  | 'server_full'
  | 'shutting_down'
  | 'bus_unavailable';

/** An HTTP error with its JSON-RPC envelope. `reason` is a short stable code clients can switch on. */
export interface HttpProblem {
  status: number;
  code: number;
  message: string;
  reason: ErrorReason;
  headers?: Record<string, string | string[]>;
}

export function replyError(res: ServerResponse, problem: HttpProblem, id?: Id): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  const body = errorEnvelope(id, problem.code, problem.message, problem.reason);
  res.writeHead(problem.status, {
    ...problem.headers,
    ...(res.req !== undefined && leavesLargeBodyUnread(res.req) ? { Connection: 'close' } : undefined),
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
    'Cache-Control': 'no-store',
  });
  res.end(body);
}

/** A body Node may read and discard after an answer to keep the connection; a larger one closes it. */
const drainableBytes = 64 * 1024;

/**
 * True when a refusal comes before a large (or unbounded, chunked) body was read: Node would read and discard
 * all of it to keep the connection; closing it costs the client a reconnect instead of costing the server the
 * upload. Small bodies are drained as usual, so ordinary refusals keep their connection.
 */
function leavesLargeBodyUnread(req: IncomingMessage): boolean {
  if (req.complete || req.readableEnded) return false;
  if (req.headers['transfer-encoding'] !== undefined) return true;
  return !(Number(req.headers['content-length'] ?? 0) <= drainableBytes);
}

/**
 * The problem, answered with `Connection: close`: after it Node closes the socket instead of reading the rest of
 * a body the router will never use (a large upload, a trickle).
 */
export function closeConnection(problem: HttpProblem): HttpProblem {
  return { ...problem, headers: { ...problem.headers, Connection: 'close' } };
}

/**
 * Logs an `'error'` a response emits after its end (a write after the end: Node's `ERR_STREAM_WRITE_AFTER_END`), which
 * would otherwise end the process. For responses handed to code of the app's own; the router's replies never do it.
 */
export function catchLateErrors(res: ServerResponse): void {
  if (res.listenerCount('error') === 0) res.on('error', lateError);
}

function lateError(error: Error): void {
  log('response error (ignored; the response is over): %s', error.message);
}

const acceptedHead = Object.freeze({ 'Content-Length': '8' });
const emptyHead = Object.freeze({ 'Content-Length': '0' });

/**
 * HTTP+SSE's `202 Accepted`, on every POST. The head is given whole, with its `Content-Length`: leaving Node to make
 * it from `statusCode` at `end()` takes a path that reads a dozen more fields of the response, each a lookup V8
 * has not cached for a response object it has never seen (12k instructions a call, 2% of it).
 */
export function replyAccepted(res: ServerResponse): void {
  res.writeHead(202, acceptedHead).end('Accepted');
}

/** A success without a body: Streamable HTTP's `202` for notifications and responses, `DELETE`'s `200`. */
export function replyNoContent(res: ServerResponse, status: 200 | 202): void {
  res.writeHead(status, emptyHead).end();
}

const server = JsonRpcCodes.serverError;

/** The error table of DESIGN.md, in one place. */
export const problems = {
  missingSessionId: (messagesPath: string): HttpProblem => ({
    status: 400,
    code: JsonRpcCodes.invalidRequest,
    reason: 'missing_session_id',
    message: `Missing sessionId query parameter: POST to the URL of the "endpoint" event, e.g. ${messagesPath}?sessionId=….`,
  }),
  parseError: (detail: string): HttpProblem => ({
    status: 400,
    code: JsonRpcCodes.parseError,
    reason: 'parse_error',
    message: `Parse error: ${detail}`,
  }),
  invalidRequest: (detail: string): HttpProblem => ({
    status: 400,
    code: JsonRpcCodes.invalidRequest,
    reason: 'invalid_request',
    message: `Invalid JSON-RPC message: ${detail}`,
  }),
  nestingTooDeep: (maxDepth: number): HttpProblem => ({
    status: 400,
    code: JsonRpcCodes.invalidRequest,
    reason: 'nesting_too_deep',
    message: `Invalid JSON-RPC message: JSON nested deeper than ${maxDepth} levels.`,
  }),
  batchTooLarge: (count: number, limit: number): HttpProblem => ({
    status: 400,
    code: JsonRpcCodes.invalidRequest,
    reason: 'batch_too_large',
    message: `Batch of ${count} messages exceeds maxBatchSize (${limit}); send smaller batches.`,
  }),
  sessionNotFound: (ssePath: string): HttpProblem => ({
    status: 404,
    code: server,
    reason: 'session_not_found',
    message: `Session not found: it closed or never existed. Open a new stream with GET ${ssePath}.`,
  }),
  wrongPrincipal: (): HttpProblem => ({
    status: 403,
    code: server,
    reason: 'forbidden_session',
    message: 'This session belongs to another principal.',
  }),
  badHost: (): HttpProblem => ({ status: 403, code: server, reason: 'host_not_allowed', message: 'Host header not allowed.' }),
  badOrigin: (): HttpProblem => ({ status: 403, code: server, reason: 'origin_not_allowed', message: 'Origin not allowed.' }),
  methodNotAllowed: (allow: string): HttpProblem => ({
    status: 405,
    code: server,
    reason: 'method_not_allowed',
    headers: { Allow: allow },
    message: `Method not allowed here; use ${allow}.`,
  }),
  bodyTimeout: (ms: number): HttpProblem => ({
    status: 408,
    code: server,
    reason: 'body_timeout',
    message: `The request body did not arrive within bodyTimeoutMs (${ms} ms).`,
  }),
  streamAttached: (): HttpProblem => ({
    status: 409,
    code: server,
    reason: 'stream_attached',
    message: 'This session already has an open stream; close it before resuming.',
  }),
  tooLarge: (limit: number): HttpProblem => ({
    status: 413,
    code: server,
    reason: 'message_too_large',
    message: `Message body exceeds maxMessageSize (${limit} bytes).`,
  }),
  notJson: (): HttpProblem => ({
    status: 415,
    code: server,
    reason: 'unsupported_media_type',
    message: 'Content-Type must be application/json.',
  }),
  unsupportedEncoding: (): HttpProblem => ({
    status: 415,
    code: server,
    reason: 'unsupported_encoding',
    message: 'Content-Encoding not supported: send the body as identity, gzip, deflate or br (one coding).',
  }),
  userSessionsFull: (limit: number): HttpProblem => ({
    status: 429,
    code: server,
    reason: 'too_many_sessions',
    message: `Too many open sessions for this principal (maxSessionsPerUser is ${limit}); close one first.`,
  }),
  sessionsFull: (): HttpProblem => ({
    status: 503,
    code: server,
    reason: 'server_full',
    headers: { 'Retry-After': '5' },
    message: 'Session limit reached (maxSessions); try again later.',
  }),
  draining: (): HttpProblem => ({
    status: 503,
    code: server,
    reason: 'shutting_down',
    headers: { 'Retry-After': '5' },
    message: 'Server is shutting down; reconnect shortly.',
  }),
  busUnavailable: (): HttpProblem => ({
    status: 503,
    code: server,
    reason: 'bus_unavailable',
    headers: { 'Retry-After': '1' },
    message: 'The instance holding this session cannot be reached right now; retry shortly.',
  }),
  notAcceptable: (types: string): HttpProblem => ({
    status: 406,
    code: server,
    reason: 'not_acceptable',
    message: `Not Acceptable: the Accept header must list ${types}.`,
  }),
  missingSessionHeader: (): HttpProblem => ({
    status: 400,
    code: server,
    reason: 'missing_session_id',
    message: 'Bad Request: Mcp-Session-Id header is required; open a session by POSTing initialize without it.',
  }),
  mcpSessionNotFound: (): HttpProblem => ({
    status: 404,
    code: JsonRpcCodes.sessionNotFound,
    reason: 'session_not_found',
    message: 'Session not found: it closed, expired or never existed. Start a new one with initialize.',
  }),
  alreadyInitialized: (): HttpProblem => ({
    status: 400,
    code: JsonRpcCodes.invalidRequest,
    reason: 'already_initialized',
    message: 'Invalid Request: this session is already initialized; POST initialize without Mcp-Session-Id to start another.',
  }),
  initializeNotAlone: (): HttpProblem => ({
    status: 400,
    code: JsonRpcCodes.invalidRequest,
    reason: 'invalid_request',
    message: 'Invalid Request: initialize must be the only message of its POST.',
  }),
  unsupportedProtocolVersion: (version: string, supported: readonly string[]): HttpProblem => ({
    status: 400,
    code: server,
    reason: 'unsupported_protocol_version',
    message: `Bad Request: Unsupported protocol version: ${version} (supported versions: ${supported.join(', ')})`,
  }),
  unknownEventId: (): HttpProblem => ({
    status: 400,
    code: server,
    reason: 'unknown_event_id',
    message: 'Bad Request: Last-Event-ID does not name an event of this session that can still be replayed; re-send your requests.',
  }),
  standaloneStreamOpen: (): HttpProblem => ({
    status: 409,
    code: server,
    reason: 'stream_attached',
    message: 'Conflict: this stream is already open; only one reader per stream.',
  }),
  unauthenticated: (reason: 'missing_credentials' | 'invalid_credentials' | 'token_expired', challenges: string[]): HttpProblem => ({
    status: 401,
    code: server,
    reason,
    message: 'Authentication required.',
    headers: { 'WWW-Authenticate': challenges },
  }),
  forbidden: (reason: 'forbidden' | 'insufficient_scope', challenge: string | undefined): HttpProblem => ({
    status: 403,
    code: server,
    reason,
    message: reason === 'insufficient_scope' ? 'The access token lacks a scope this server requires.' : 'Access denied.',
    ...(challenge === undefined ? {} : { headers: { 'WWW-Authenticate': challenge } }),
  }),
  authError: (): HttpProblem => ({
    status: 500,
    code: JsonRpcCodes.internalError,
    reason: 'auth_error',
    message: 'Authentication could not be completed.',
  }),
  rateLimited: (status: number): HttpProblem => ({
    status,
    code: server,
    reason: 'rate_limited',
    message: 'Too many requests; slow down and retry after the time in Retry-After.',
  }),
  createServerFailed: (): HttpProblem => ({
    status: 500,
    code: JsonRpcCodes.internalError,
    reason: 'create_server_failed',
    message: 'Could not start an MCP server for this session.',
  }),
  internal: (): HttpProblem => ({
    status: 500,
    code: JsonRpcCodes.internalError,
    reason: 'internal_error',
    message: 'Internal error.',
  }),
};

/** The answer to a delivery or relay the session refused; `notFound` is the transport's own 404. */
export function refusal(result: Exclude<DeliveryResult, 'accepted'>, notFound: () => HttpProblem): HttpProblem {
  return result === 'unknown' ? notFound() : result === 'forbidden' ? problems.wrongPrincipal() : problems.busUnavailable();
}
