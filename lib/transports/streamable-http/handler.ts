// POST, GET and DELETE on the Streamable HTTP endpoint: the wire rules of protocols 2025-03-26 to 2025-11-25.
import type { Request, RequestHandler, Response } from 'express';
import { principalOf, authInfoOf } from '../../auth/principal.js';
import type { SessionBus } from '../../bus.js';
import { ErrorCodes, McpSseError } from '../../errors.js';
import { isJsonContentType, readMessages } from '../../http/body.js';
import { problems, replyAccepted, replyError, type HttpProblem } from '../../http/reply.js';
import { parseEventId } from '../../session/event-id.js';
import { mayPost } from '../../session/registry.js';
import type { JSONRPCMessage, MessageExtra } from '../../types.js';
import { openSession, type SessionOpener } from '../open-session.js';
import { StreamableHTTPTransport } from './transport.js';

export interface StreamableHandlerContext extends SessionOpener {
  bus: SessionBus;
  maxMessageSize: number;
  jsonResponse: boolean;
}

/** Protocol versions a client may name in `MCP-Protocol-Version` (the SDK's list). */
export const supportedProtocolVersions = ['2025-11-25', '2025-06-18', '2025-03-26', '2024-11-05', '2024-10-07'] as const;
/** What a request without `MCP-Protocol-Version` is taken to speak (the spec's rule). */
const defaultProtocolVersion = '2025-03-26';

type Id = string | number | undefined;
type Handle = (req: Request, res: Response) => Promise<void> | void;

/** The handlers of the endpoint, one per method the transport uses. */
export function createStreamableHandlers(context: StreamableHandlerContext): { POST: RequestHandler; GET: RequestHandler; DELETE: RequestHandler } {
  const { registry, settings, report, bus } = context;

  /** The session a request names, or the problem to answer with. */
  const sessionOf = (req: Request): StreamableHTTPTransport | HttpProblem => {
    const sessionId = req.headers['mcp-session-id'];
    if (typeof sessionId !== 'string' || sessionId === '') return problems.missingSessionHeader();
    const session = registry.get(sessionId);
    if (session?.transport !== 'streamable-http' || session.isClosed) return problems.mcpSessionNotFound();
    if (!mayPost(session.principalId, principalOf(req)?.id)) return problems.wrongPrincipal();
    const version = req.headers['mcp-protocol-version'];
    if (typeof version === 'string' && !isSupported(version)) return problems.unsupportedProtocolVersion(version, supportedProtocolVersions);
    return session;
  };

  const post: Handle = async (req, res) => {
    const accept = req.headers.accept ?? '';
    if (!accept.includes('application/json') || !accept.includes('text/event-stream')) {
      return replyError(res, problems.notAcceptable('both application/json and text/event-stream'));
    }
    if (!isJsonContentType(req.headers['content-type'])) return replyError(res, problems.notJson());
    const body = await readMessages(req, context.maxMessageSize);
    if (!body.ok) {
      if (body.problem !== undefined) replyError(res, body.problem, body.id);
      return;
    }
    const { messages } = body;
    const id: Id = messages.length === 1 ? messages[0]!.id : undefined;
    const initialize = messages.find((message) => message.method === 'initialize' && message.id !== undefined);
    const extra = extraOf(req);

    if (initialize !== undefined && req.headers['mcp-session-id'] === undefined) {
      if (messages.length > 1) return replyError(res, problems.initializeNotAlone(), id);
      if (settings.draining) return replyError(res, problems.draining(), id);
      const requested = (initialize.params as { protocolVersion?: unknown } | undefined)?.protocolVersion;
      const protocolVersion = typeof requested === 'string' ? requested : defaultProtocolVersion;
      const session = await openSession(context, req, res, protocolVersion, (init) => new StreamableHTTPTransport(init, settings), initialize.id);
      if (session === undefined) return;
      registry.counters.bytesIn += body.bytes;
      return respond(session, req, res, messages, extra, protocolVersion);
    }

    const session = sessionOf(req);
    if (!(session instanceof StreamableHTTPTransport)) {
      // A session of another instance: messages that need no answer go through the bus.
      if (session.status === 404 && !hasRequests(messages) && typeof req.headers['mcp-session-id'] === 'string') {
        return forward(req, res, req.headers['mcp-session-id'], messages, extra, body.bytes, id);
      }
      return replyError(res, session, id);
    }
    if (initialize !== undefined) return replyError(res, problems.alreadyInitialized(), id);
    registry.counters.bytesIn += body.bytes;
    const version = req.headers['mcp-protocol-version'];
    respond(session, req, res, messages, extra, typeof version === 'string' ? version : defaultProtocolVersion);
  };

  /** 202 for notifications and responses only; else a stream (or one JSON body) carrying the responses. */
  const respond = (session: StreamableHTTPTransport, req: Request, res: Response, messages: JSONRPCMessage[], extra: MessageExtra, protocolVersion: string): void => {
    if (!hasRequests(messages)) {
      session.receive(messages, extra);
      return replyAccepted(res);
    }
    if (!context.jsonResponse) return session.post(res, messages, extra, { protocolVersion });
    session.post(res, messages, extra, {
      protocolVersion,
      json: (responses) => {
        if (res.writableEnded || res.destroyed) return;
        if (responses === undefined) return replyError(res, problems.mcpSessionNotFound());
        const text = JSON.stringify(responses.length === 1 ? responses[0] : responses);
        res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), 'Mcp-Session-Id': session.sessionId });
        res.end(text);
      },
    });
    void req;
  };

  const forward = async (req: Request, res: Response, sessionId: string, messages: JSONRPCMessage[], extra: MessageExtra, bytes: number, id: Id): Promise<void> => {
    let result;
    try {
      result = await bus.forward(sessionId, { messages, principalId: principalOf(req)?.id, authInfo: extra.authInfo, headers: req.headers });
    } catch (error) {
      report(new McpSseError(ErrorCodes.bus, 'Forwarding a message through the session bus failed.', { cause: error }), { sessionId, req });
      result = 'unavailable' as const;
    }
    if (result === 'accepted') {
      registry.counters.bytesIn += bytes;
      return replyAccepted(res);
    }
    const refusal = result === 'forbidden' ? problems.wrongPrincipal() : result === 'unavailable' ? problems.busUnavailable() : problems.mcpSessionNotFound();
    replyError(res, refusal, id);
  };

  const get: Handle = (req, res) => {
    if (!(req.headers.accept ?? '').includes('text/event-stream')) return replyError(res, problems.notAcceptable('text/event-stream'));
    const session = sessionOf(req);
    if (!(session instanceof StreamableHTTPTransport)) return replyError(res, session);
    if (settings.draining) return replyError(res, problems.draining());
    const lastEventId = req.headers['last-event-id'];
    if (typeof lastEventId === 'string' && lastEventId !== '') {
      const at = parseEventId(lastEventId);
      // Another session's id is as unknown here as a made-up one: never replay someone else's events.
      if (at === undefined || registry.byStreamKey(at.key) !== session) return replyError(res, problems.unknownEventId());
      const resumed = session.resume(res, at);
      if (resumed === 'conflict') return replyError(res, problems.standaloneStreamOpen());
      if (resumed === 'gone') {
        report(new McpSseError(ErrorCodes.resumeGap, 'Resume refused: the events after Last-Event-ID are no longer buffered (raise replayBufferSize or maxBufferedBytes).'), { sessionId: session.sessionId, req });
        return replyError(res, problems.unknownEventId());
      }
      return;
    }
    const version = req.headers['mcp-protocol-version'];
    if (!session.openStandalone(res, typeof version === 'string' ? version : session.protocolVersion ?? defaultProtocolVersion)) {
      replyError(res, problems.standaloneStreamOpen());
    }
  };

  const remove: Handle = async (req, res) => {
    const session = sessionOf(req);
    if (!(session instanceof StreamableHTTPTransport)) return replyError(res, session);
    await session.closeSession();
    res.writeHead(200, { 'Content-Length': '0' }).end();
  };

  const wrap = (method: string, handle: Handle): RequestHandler => (req, res, next) => {
    Promise.resolve()
      .then(() => handle(req, res))
      .catch((error: unknown) => {
        report(new McpSseError(ErrorCodes.request, `Unexpected failure while handling a Streamable HTTP ${method}; passed to the app's error handler.`, { cause: error }), { req });
        next(error);
      });
  };
  return { POST: wrap('POST', post), GET: wrap('GET', get), DELETE: wrap('DELETE', remove) };
}

function isSupported(version: string): boolean {
  return (supportedProtocolVersions as readonly string[]).includes(version);
}

function hasRequests(messages: JSONRPCMessage[]): boolean {
  return messages.some((message) => message.method !== undefined && message.id !== undefined);
}

/** What the server learns about each message of a request. */
function extraOf(req: Request): MessageExtra {
  const extra: MessageExtra = { requestInfo: { headers: req.headers } };
  const authInfo = authInfoOf(req);
  if (authInfo !== undefined) extra.authInfo = authInfo;
  return extra;
}
