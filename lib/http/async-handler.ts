// One wrapper for the router's async handlers: whatever they throw or reject reaches onError and the app's error handler.
import type { Request, RequestHandler, Response } from 'express';
import { ErrorCodes, McpSseError } from '../errors.js';

type Report = (error: McpSseError, context: { req?: Request }) => void;

/**
 * A request handler that never throws out: a failure (thrown or rejected) is reported as `ERR_MCP_SSE_REQUEST` and
 * passed to `next(error)`, as express-rate-limit's `handleAsyncErrors` does.
 */
export function asyncHandler(what: string, report: Report, handle: (req: Request, res: Response) => Promise<void> | void): RequestHandler {
  return (req, res, next) => {
    const fail = (error: unknown): void => {
      report(new McpSseError(ErrorCodes.request, `Unexpected failure while ${what}; passed to the app's error handler.`, { cause: error }), { req });
      next(error);
    };
    try {
      handle(req, res)?.catch(fail);
    } catch (error) {
      fail(error);
    }
  };
}
