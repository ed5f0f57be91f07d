// The router's one place errors go: `onError` when the app gave one, else stderr for server-side faults (rate-limited).
import { inspect } from 'node:util';
import { ErrorCodes, type ErrorCode, type McpSseError } from './errors.js';
import { log } from './log.js';
import type { ErrorContext } from './options.js';

/**
 * Faults the app must know about even without `onError`: its own code failing (`createServer()`, a server that throws,
 * a strategy that errors), the bus, the SDK failing a request. What a client causes (a slow reader, a resume past the
 * buffer, a message for a closed session) is the client's business and stays in the `debug` log.
 */
const serverFaults: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  ErrorCodes.createServer,
  ErrorCodes.alreadyStarted,
  ErrorCodes.serverClose,
  ErrorCodes.authStrategy,
  ErrorCodes.messageHandler,
  ErrorCodes.bus,
  ErrorCodes.request,
  ErrorCodes.missingDependency,
]);

/** One stderr line per code per this long, so a fault on every request does not flood the log. */
export const faultLogIntervalMs = 60_000;

export interface ReporterOptions {
  onError: ((error: McpSseError, context: ErrorContext) => void) | undefined;
  /** Where unheard faults go. Defaults to `process.stderr`. */
  write?: (text: string) => void;
  now?: () => number;
}

export type Report = (error: McpSseError, context: ErrorContext) => void;

/** Builds the router's `report`; it never throws. */
export function createReporter({ onError, write = (text) => process.stderr.write(text), now = Date.now }: ReporterOptions): Report {
  const lastPrinted = new Map<ErrorCode, number>();
  return (error, context) => {
    log('%s %s (session %s)%s', error.code, error.message, context.sessionId ?? '-', causeText(error.cause, ': '));
    if (onError !== undefined) {
      try {
        onError(error, context);
      } catch (thrown) {
        log('onError threw: %O', thrown);
      }
      return;
    }
    if (!serverFaults.has(error.code)) return;
    const at = now();
    const last = lastPrinted.get(error.code);
    if (last !== undefined && at - last < faultLogIntervalMs) return;
    lastPrinted.set(error.code, at);
    try {
      write(faultText(error, context));
    } catch {
      // stderr closed: nothing left to tell.
    }
  };
}

/** The stderr text of one fault: code, message, session, cause (with its stack), and how to see every one. */
export function faultText(error: McpSseError, context: ErrorContext): string {
  const session = context.sessionId === undefined ? '' : ` (session ${context.sessionId})`;
  const request = context.req === undefined ? '' : ` [${context.req.method} ${context.req.originalUrl ?? context.req.url}]`;
  return (
    `express-mcp-sse: ${error.code}: ${error.message}${session}${request}${causeText(error.cause, '\n  Cause: ')}\n` +
    `  (${error.code} is printed at most once a minute; pass onError to createMcpSseRouter() to handle every error.)\n`
  );
}

/** The cause chain as text, `''` when there is none. */
function causeText(cause: unknown, prefix: string): string {
  if (cause === undefined) return '';
  const text = cause instanceof Error ? (cause.stack ?? `${cause.name}: ${cause.message}`) : inspect(cause, { depth: 2, breakLength: Infinity });
  const nested = cause instanceof Error && cause.cause !== undefined ? causeText(cause.cause, `${prefix.replace(/Cause: $/, '')}Caused by: `) : '';
  return `${prefix}${text.replace(/\n/g, '\n  ')}${nested}`;
}
