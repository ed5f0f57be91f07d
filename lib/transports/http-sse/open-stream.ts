// GET {ssePath}: opens a session's event stream, or resumes a dropped one from Last-Event-ID.
import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import type { Request, RequestHandler, Response } from 'express';
import { principalKeyOf } from '../../auth/principal.js';
import { ErrorCodes, McpSseError } from '../../errors.js';
import { asyncHandler } from '../../http/async-handler.js';
import { problems, replyError } from '../../http/reply.js';
import { logSession } from '../../log.js';
import { parseEventId } from '../../session/event-id.js';
import type { BusNode, SessionBus } from '../../bus.js';
import { adoptSession, requesterOf } from '../adopt-session.js';
import { openSession, type SessionOpener } from '../open-session.js';
import { type RelaysInFlight, relayToOwner, requestOf } from '../relay-to-owner.js';
import { RelayResponse } from '../streamable-http/relay-response.js';
import { adoptedPrefix, endpointPrefix, type EndpointOptions } from './endpoint.js';
import { SSETransport } from './transport.js';

export interface SseHandlerContext extends SessionOpener {
  endpoint: EndpointOptions;
  /** Durable buses rebuild here a session whose owner is gone, on a resume, and relay a resume to a live owner. */
  bus: SessionBus;
  /** Bytes a resume relayed from another instance may back up before the client is cut. */
  maxBufferedBytes: number;
  relays: RelaysInFlight;
}

export interface SseHandlers {
  GET: RequestHandler;
  /** Serves a resume relayed by the bus for a session of this instance (`BusNode.serve`, `transport: 'sse'`). */
  serveRelayed: BusNode['serve'];
}

/** Who resumes, wherever the request arrived: here, or on another instance that relayed it. */
interface Resumer {
  principalId: string | undefined;
  headers: IncomingHttpHeaders;
  req?: Request;
}

export function createSseHandlers(context: SseHandlerContext): SseHandlers {
  const { endpoint, registry, settings, report, bus } = context;

  /** Re-attaches a detached session; returns false (nothing written) when the client must start a fresh session instead. */
  const resume = (resumer: Resumer, res: ServerResponse, lastEventId: string): boolean => {
    const parsed = parseEventId(lastEventId);
    const transport = parsed === undefined || parsed.stream !== 0 ? undefined : registry.byStreamKey(parsed.key);
    if (parsed === undefined || transport?.transport !== 'sse' || transport.isClosed) {
      report(new McpSseError(ErrorCodes.resumeGap, 'Resume refused: Last-Event-ID is unknown or its session expired; a fresh session was opened.'), {
        req: resumer.req,
      });
      return false;
    }
    if (!transport.accepts(resumer.principalId)) {
      replyError(res, problems.wrongPrincipal());
      return true;
    }
    if (transport.isAttached) {
      replyError(res, problems.streamAttached());
      return true;
    }
    const attached = transport.attach(res, parsed.seq);
    settings.telemetry?.around('mcp.stream.resume', transport.sessionId, resumer.headers)?.end(attached ? 'ok' : 'gone');
    if (!attached) {
      report(
        new McpSseError(
          ErrorCodes.resumeGap,
          'Resume refused: events after Last-Event-ID are no longer buffered (raise replayBufferSize or maxBufferedBytes); a fresh session was opened.',
        ),
        { sessionId: transport.sessionId, req: resumer.req },
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
      (init) => new SSETransport({ ...init, endpointPrefix: endpointPrefix(req, endpoint) }, settings),
    );
    transport?.attach(res);
  };

  /**
   * A resume of a session this instance does not hold, with a durable bus: rebuilt here when its owner is gone, else
   * relayed to the instance holding it. Returns false when the client must start a fresh session instead.
   */
  const elsewhere = async (req: Request, res: Response, lastEventId: string, retried = false): Promise<boolean> => {
    const parsed = parseEventId(lastEventId);
    if (
      parsed === undefined ||
      parsed.stream !== 0 ||
      bus.adopt === undefined ||
      bus.journal === undefined ||
      registry.byStreamKey(parsed.key) !== undefined
    )
      return false;
    const adopted = await adoptSession(context, requesterOf(req), { streamKey: parsed.key }, 'sse', (init, stored) => {
      return new SSETransport({ ...init, endpointPrefix: adoptedPrefix(stored.endpoint, init.sessionId, req, endpoint) }, settings);
    });
    if ('session' in adopted) return resume(resumerOf(req), res, lastEventId);
    if (adopted.result === 'forbidden') {
      replyError(res, problems.wrongPrincipal());
      return true;
    }
    if (adopted.result !== 'moved' || adopted.sessionId === undefined || bus.relay === undefined) return false;
    // Adopted here meanwhile by a concurrent request: resumed here.
    if (registry.byStreamKey(parsed.key) !== undefined) return resume(resumerOf(req), res, lastEventId);
    // The owner is alive elsewhere (a proxy cut the stream, or another instance adopted it first): its stream is
    // relayed from there. An owner that vanishes before answering is asked about once more (then adopted here).
    const lost = retried
      ? undefined
      : () =>
          void elsewhere(req, res, lastEventId, true)
            .then((served) => served || fresh(req, res))
            .catch((error: unknown) => report(new McpSseError(ErrorCodes.request, 'Resuming a stream failed.', { cause: error }), { req }));
    const relayed = await relayToOwner(context, req, res, adopted.sessionId, { ...requestOf(req), transport: 'sse' }, { lost });
    if (relayed === 'accepted' || relayed === 'gone') return true;
    if (relayed === 'forbidden') {
      replyError(res, problems.wrongPrincipal());
      return true;
    }
    return !retried && relayed === 'unavailable' ? elsewhere(req, res, lastEventId, true) : false;
  };

  /** A fresh session, unless draining. */
  const fresh = async (req: Request, res: Response): Promise<boolean> => {
    if (res.headersSent || res.destroyed) return true;
    if (settings.draining) replyError(res, problems.draining());
    else await open(req, res);
    return true;
  };

  const serveRelayed: BusNode['serve'] = (sessionId, request, sink) => {
    const session = registry.get(sessionId);
    const lastEventId = request.headers['last-event-id'];
    if (session?.transport !== 'sse' || session.isClosed || typeof lastEventId !== 'string') return { result: 'unknown' };
    if (!session.accepts(request.principalId)) return { result: 'forbidden' };
    const res = new RelayResponse(sink);
    // Nothing was written when the resume cannot be served: the relaying instance opens a fresh session, as here.
    if (!resume({ principalId: request.principalId, headers: request.headers }, res.asServerResponse(), lastEventId)) return { result: 'unknown' };
    return { result: 'accepted', handle: { cancel: () => res.destroy() } };
  };

  const GET = asyncHandler('opening a stream', report, async (req, res) => {
    // A resume is served while draining: the stream carries the answers of requests still in flight.
    const lastEventId = req.headers['last-event-id'];
    if (
      typeof lastEventId === 'string' &&
      lastEventId !== '' &&
      ((await elsewhere(req, res, lastEventId)) || resume(resumerOf(req), res, lastEventId))
    )
      return;
    await fresh(req, res);
  });
  return { GET, serveRelayed };
}

function resumerOf(req: Request): Resumer {
  return { principalId: principalKeyOf(req), headers: req.headers, req };
}
