// GET {ssePath}: opens a session's event stream, or resumes a dropped one from Last-Event-ID.
import { randomUUID } from 'node:crypto';
import type { Request, RequestHandler, Response } from 'express';
import { ErrorCodes, McpSseError } from '../errors.js';
import { logSession } from '../log.js';
import type { ResolvedOptions } from '../options.js';
import type { SessionRegistry } from '../registry.js';
import { SSETransport, type TransportShared } from '../transport.js';
import type { ServerLike } from '../types.js';
import { authInfoOf, principalKey, principalKeyOf, principalOf } from '../auth/principal.js';
import { problems, replyError } from './reply.js';
import { endpointUrl, type EndpointOptions } from './endpoint.js';

export interface SseHandlerContext {
  options: ResolvedOptions;
  endpoint: EndpointOptions;
  registry: SessionRegistry;
  shared: TransportShared;
  report: (error: McpSseError, context: { sessionId?: string; req?: Request }) => void;
}

export function createSseHandler(context: SseHandlerContext): RequestHandler {
  const { options, endpoint, registry, shared, report } = context;

  /** Re-attaches a detached session; returns false when the client must start a fresh session instead. */
  const resume = (req: Request, res: Response, lastEventId: string): boolean => {
    const parsed = SSETransport.parseEventId(lastEventId);
    const transport = parsed === undefined ? undefined : registry.byStreamKey(parsed.streamKey);
    if (parsed === undefined || transport === undefined || transport.isClosed) {
      report(new McpSseError(ErrorCodes.resumeGap, 'Resume refused: Last-Event-ID is unknown or its session expired; a fresh session was opened.'), { req });
      return false;
    }
    if (transport.principalId !== principalKeyOf(req)) {
      replyError(res, problems.wrongPrincipal());
      return true;
    }
    if (transport.isAttached) {
      replyError(res, problems.streamAttached());
      return true;
    }
    if (!transport.attach(res, parsed.seq)) {
      report(
        new McpSseError(ErrorCodes.resumeGap, 'Resume refused: events after Last-Event-ID are no longer buffered (raise replayBufferSize or maxBufferedBytes); a fresh session was opened.'),
        { sessionId: transport.sessionId, req },
      );
      // The client moves to a fresh session; the old one can never be resumed now.
      void transport.closeSession();
      return false;
    }
    logSession('resumed %s after %s', transport.sessionId, lastEventId);
    return true;
  };

  const open = async (req: Request, res: Response): Promise<void> => {
    const user = principalOf(req);
    const authInfo = authInfoOf(req);
    const admitted = registry.admit(principalKey(user));
    if (admitted === 'sessions-full') return replyError(res, problems.sessionsFull());
    if (admitted === 'user-full') return replyError(res, problems.userSessionsFull(options.maxSessionsPerUser));

    const sessionId = randomUUID();
    const transport = new SSETransport(
      { sessionId, user, authInfo, headers: req.headers, endpoint: endpointUrl(req, endpoint, sessionId) },
      shared,
    );
    // Registered before createServer() runs, so concurrent opens count against the caps.
    registry.add(transport);
    let clientGone = false;
    const onGone = () => (clientGone = true);
    res.once('close', onGone);
    let server: ServerLike;
    try {
      server = await options.createServer({ sessionId, user, authInfo, headers: req.headers });
      if (typeof server?.connect !== 'function') {
        throw new TypeError('createServer() must return an MCP server (an object with connect(transport)).');
      }
      transport.bindServer(server);
      await server.connect(transport);
    } catch (error) {
      res.off('close', onGone);
      await transport.close();
      report(new McpSseError(ErrorCodes.createServer, 'createServer() or server.connect() failed; the session was not opened.', { cause: error }), { sessionId, req });
      if (!clientGone) replyError(res, problems.createServerFailed());
      return;
    }
    res.off('close', onGone);
    // The session may also have been closed meanwhile (router.close(), sessions.close()): never stream a dead one.
    if (clientGone || shared.draining || transport.isClosed) {
      await transport.closeSession();
      if (!clientGone) replyError(res, problems.draining());
      return;
    }
    transport.attach(res);
    logSession('opened %s for %s', sessionId, user?.id ?? 'anonymous');
  };

  return (req, res, next) => {
    if (req.method === 'HEAD') return replyError(res, problems.methodNotAllowed('GET'));
    if (shared.draining) return replyError(res, problems.draining());
    const lastEventId = req.headers['last-event-id'];
    if (typeof lastEventId === 'string' && lastEventId !== '' && resume(req, res, lastEventId)) return;
    open(req, res).catch((error: unknown) => {
      report(new McpSseError(ErrorCodes.request, 'Unexpected failure while opening a stream; passed to the app\'s error handler.', { cause: error }), { req });
      next(error);
    });
  };
}
