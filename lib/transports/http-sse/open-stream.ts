// GET {ssePath}: opens a session's event stream, or resumes a dropped one from Last-Event-ID.
import type { Request, RequestHandler, Response } from 'express';
import { principalKeyOf } from '../../auth/principal.js';
import { ErrorCodes, McpSseError } from '../../errors.js';
import { asyncHandler } from '../../http/async-handler.js';
import { problems, replyError } from '../../http/reply.js';
import { logSession } from '../../log.js';
import { parseEventId } from '../../session/event-id.js';
import type { SessionBus } from '../../bus.js';
import { adoptSession, requesterOf } from '../adopt-session.js';
import { openSession, type SessionOpener } from '../open-session.js';
import { endpointUrl, type EndpointOptions } from './endpoint.js';
import { SSETransport } from './transport.js';

export interface SseHandlerContext extends SessionOpener {
  endpoint: EndpointOptions;
  /** Durable buses rebuild here a session whose owner is gone, on a resume. */
  bus: SessionBus;
}

export function createSseHandler(context: SseHandlerContext): RequestHandler {
  const { endpoint, registry, settings, report } = context;

  /** Re-attaches a detached session; returns false when the client must start a fresh session instead. */
  const resume = (req: Request, res: Response, lastEventId: string): boolean => {
    const parsed = parseEventId(lastEventId);
    const transport = parsed === undefined || parsed.stream !== 0 ? undefined : registry.byStreamKey(parsed.key);
    if (parsed === undefined || transport?.transport !== 'sse' || transport.isClosed) {
      report(new McpSseError(ErrorCodes.resumeGap, 'Resume refused: Last-Event-ID is unknown or its session expired; a fresh session was opened.'), {
        req,
      });
      return false;
    }
    if (!transport.accepts(principalKeyOf(req))) {
      replyError(res, problems.wrongPrincipal());
      return true;
    }
    if (transport.isAttached) {
      replyError(res, problems.streamAttached());
      return true;
    }
    const attached = transport.attach(res, parsed.seq);
    settings.telemetry?.around('mcp.stream.resume', transport.sessionId, req.headers)?.end(attached ? 'ok' : 'gone');
    if (!attached) {
      report(
        new McpSseError(
          ErrorCodes.resumeGap,
          'Resume refused: events after Last-Event-ID are no longer buffered (raise replayBufferSize or maxBufferedBytes); a fresh session was opened.',
        ),
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
    const transport = await openSession(
      context,
      req,
      res,
      undefined,
      (init) => new SSETransport({ ...init, endpoint: endpointUrl(req, endpoint, init.sessionId) }, settings),
    );
    transport?.attach(res);
  };

  /** A resume of a session no instance holds any more: a durable bus lets this one rebuild it, then resume it. */
  const adopt = async (req: Request, res: Response, lastEventId: string): Promise<boolean> => {
    const parsed = parseEventId(lastEventId);
    if (
      parsed === undefined ||
      parsed.stream !== 0 ||
      context.bus.adopt === undefined ||
      context.bus.journal === undefined ||
      registry.byStreamKey(parsed.key) !== undefined
    )
      return false;
    const adopted = await adoptSession(context, requesterOf(req), { streamKey: parsed.key }, 'sse', (init, stored) => {
      return new SSETransport({ ...init, endpoint: stored.endpoint ?? endpointUrl(req, endpoint, init.sessionId) }, settings);
    });
    if ('session' in adopted) return resume(req, res, lastEventId);
    if (adopted.result === 'forbidden') {
      replyError(res, problems.wrongPrincipal());
      return true;
    }
    return false;
  };

  return asyncHandler('opening a stream', report, async (req, res) => {
    // A resume is served while draining: the stream carries the answers of requests still in flight.
    const lastEventId = req.headers['last-event-id'];
    if (typeof lastEventId === 'string' && lastEventId !== '' && ((await adopt(req, res, lastEventId)) || resume(req, res, lastEventId))) return;
    if (settings.draining) return replyError(res, problems.draining());
    await open(req, res);
  });
}
