// mcpBodyErrorHandler(): Express error middleware that answers body-parser failures on MCP paths as JSON-RPC envelopes.
import type { ErrorRequestHandler } from 'express';
import { JsonRpcCodes } from '../errors.js';
import { type ErrorReason, type HttpProblem, replyError } from './reply.js';

/**
 * What an app-level `express.json()` (body-parser) fails with: `type` names the failure, `status` the HTTP status.
 * body-parser reads and discards the rest of the body before it calls `next(err)`.
 */
interface BodyParserError {
  type: string;
  status?: number;
  statusCode?: number;
  limit?: number;
}

/**
 * An Express error handler for the MCP mount path: when an app-level `express.json()` (or `express.text()`,
 * `express.raw()`, `express.urlencoded()`) refuses a body, the request never reaches the router, and Express would
 * answer with an HTML error page that MCP clients cannot read. Mounted after the router at the same path, this
 * answers those refusals as JSON-RPC error envelopes with the parser's status (`413 message_too_large`,
 * `400 parse_error` with code -32700, `415 unsupported_encoding`…), and passes every other error on.
 *
 * @example
 * app.use(express.json({ limit: '4mb' }));   // a limit of at least maxMessageSize
 * app.use('/mcp', mcp);
 * app.use('/mcp', mcpBodyErrorHandler());    // parser errors on /mcp answer as JSON-RPC, not HTML
 */
export function mcpBodyErrorHandler(): ErrorRequestHandler {
  return (error: unknown, _req, res, next) => {
    const problem = isBodyParserError(error) ? problemOf(error) : undefined;
    if (problem === undefined || res.headersSent) {
      next(error);
      return;
    }
    // The body was not parsed, so there is no request id to echo.
    replyError(res, problem, null);
  };
}

function isBodyParserError(error: unknown): error is BodyParserError {
  return typeof error === 'object' && error !== null && typeof (error as { type?: unknown }).type === 'string';
}

const server = JsonRpcCodes.serverError;

/** body-parser's failure types (its README's "Errors" list), as the router's own refusals of the same bodies. */
function problemOf(error: BodyParserError): HttpProblem | undefined {
  const status = error.status ?? error.statusCode;
  const problem = (code: number, reason: ErrorReason, message: string): HttpProblem => ({ status: status ?? 400, code, reason, message });
  switch (error.type) {
    case 'entity.too.large':
    case 'parameters.too.many':
      return problem(
        server,
        'message_too_large',
        `Message body exceeds the app's body parser limit${error.limit === undefined ? '' : ` (${error.limit} bytes)`}: ` +
          'give express.json() a limit of at least maxMessageSize, or mount the MCP router before it.',
      );
    case 'entity.parse.failed':
      return problem(JsonRpcCodes.parseError, 'parse_error', 'Parse error: the body is not valid JSON.');
    case 'request.size.invalid':
    case 'request.aborted':
      return problem(JsonRpcCodes.parseError, 'parse_error', 'Parse error: the body did not arrive whole.');
    case 'encoding.unsupported':
      return problem(server, 'unsupported_encoding', 'Content-Encoding not supported: send the body as identity, gzip, deflate or br.');
    case 'charset.unsupported':
      return problem(server, 'unsupported_media_type', 'Content-Type charset not supported: send JSON as UTF-8.');
    case 'entity.verify.failed':
      return problem(server, 'forbidden', 'The body was refused by the app.');
    default:
      return undefined;
  }
}
