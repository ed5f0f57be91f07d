// debug-package loggers under the `express-mcp-sse` namespace (enable with DEBUG=express-mcp-sse*).
import createDebug from 'debug';

export const log = createDebug('express-mcp-sse');
export const logSession = log.extend('session');
export const logAuth = log.extend('auth');
