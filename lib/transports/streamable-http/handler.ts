// POST, GET and DELETE on the Streamable HTTP endpoint: the wire rules of protocols 2025-03-26 to 2025-11-25.
import type { ServerResponse } from 'node:http';
import type { Request, RequestHandler, Response } from 'express';
import { authInfoOf } from '../../auth/principal.js';
import type { AdoptableSession, BusNode, RelayedRequest, RelaySink, SessionBus } from '../../bus.js';
import { ErrorCodes, McpSseError } from '../../errors.js';
import { asyncHandler } from '../../http/async-handler.js';
import { isJsonContentType, preParsedIdOf, readMessages, type BodyLimits } from '../../http/body.js';
import { problems, refusal, replyError, replyNoContent } from '../../http/reply.js';
import { parseEventId } from '../../session/event-id.js';
import type { JSONRPCMessage, MessageExtra } from '../../types.js';
import { adoptSession, relayedRequester, requesterOf } from '../adopt-session.js';
import type { SessionInit } from '../../session/session.js';
import { openSession, type SessionOpener } from '../open-session.js';
import { type RelaysInFlight, relayToOwner, requestOf } from '../relay-to-owner.js';
import { RelayResponse } from './relay-response.js';
import { isStatelessMessage, type StatelessLeg } from './stateless.js';
import { StreamableHTTPTransport } from './transport.js';
import { defaultProtocolVersion, isSessionVersion, isStatelessVersion, sessionProtocolVersions } from './versions.js';

export interface StreamableHandlerContext extends SessionOpener, BodyLimits {
  bus: SessionBus;
  jsonResponse: boolean;
  /** Bytes an answer relayed from another instance may back up before the client is cut. */
  maxBufferedBytes: number;
  /** What this instance relays now, for a drain. */
  relays: RelaysInFlight;
  /** Serves 2026-07-28 (stateless) requests. */
  stateless: StatelessLeg;
  /** True once a draining router has released its sessions to a durable bus: new requests go to another instance. */
  handingOn(): boolean;
}

type Id = string | number | undefined;

export interface StreamableHandlers {
  POST: RequestHandler;
  GET: RequestHandler;
  DELETE: RequestHandler;
  /** Serves a request relayed by the bus for a session of this instance (`BusNode.serve`). */
  serveRelayed: BusNode['serve'];
}

/** The handlers of the endpoint, one per method; each finds the session, here or through the bus, then `serve`s. */
export function createStreamableHandlers(context: StreamableHandlerContext): StreamableHandlers {
  const { registry, settings, report, bus } = context;

  const post = async (req: Request, res: Response): Promise<void> => {
    const accept = req.headers.accept ?? '';
    // 2026-07-28 clients are not held to the 2025 Accept rule (the SDK's handler does not check it either).
    if ((!accept.includes('application/json') || !accept.includes('text/event-stream')) && !isStatelessVersion(req.headers['mcp-protocol-version'])) {
      return replyError(res, problems.notAcceptable('both application/json and text/event-stream'), preParsedIdOf(req));
    }
    if (!isJsonContentType(req.headers['content-type'])) return replyError(res, problems.notJson(), preParsedIdOf(req));
    const body = await readMessages(req, context);
    if (!body.ok) {
      if (body.problem !== undefined) replyError(res, body.problem, body.id);
      return;
    }
    const { messages } = body;
    // The body decides the era: a request naming its protocol version in `_meta` is 2026-era, and stateless. A
    // request without a session that names a 2026 version only in its header is too: the SDK refuses its
    // envelope (-32602) as the spec asks, where the 2025 rules would only see a missing session.
    const stateless =
      messages.some(isStatelessMessage) ||
      (req.headers['mcp-session-id'] === undefined &&
        isStatelessVersion(req.headers['mcp-protocol-version']) &&
        !messages.some((m) => m.method === 'initialize'));
    if (stateless) {
      if (messages.length > 1)
        return replyError(res, problems.invalidRequest('JSON-RPC batches are not part of protocol 2026-07-28; send one request per POST.'));
      registry.counters.bytesIn += body.bytes;
      return context.stateless.handle(req, res, messages[0]!);
    }
    const initialize = messages.find((message) => message.method === 'initialize' && message.id !== undefined);
    if (initialize === undefined || req.headers['mcp-session-id'] !== undefined) {
      return route(req, res, { ...requestOf(req, 'POST'), messages, bytes: body.bytes });
    }
    const id: Id = messages.length === 1 ? messages[0]!.id : undefined;
    if (messages.length > 1) return replyError(res, problems.initializeNotAlone(), id);
    if (settings.draining) return replyError(res, problems.draining(), id);
    const requested = (initialize.params as { protocolVersion?: unknown } | undefined)?.protocolVersion;
    const protocolVersion = typeof requested === 'string' ? requested : defaultProtocolVersion;
    const session = await openSession(context, req, res, protocolVersion, (init) => new StreamableHTTPTransport(init, settings), initialize.id);
    if (session === undefined) return;
    registry.counters.bytesIn += body.bytes;
    respond(session, res, messages, extraOf(req.headers, authInfoOf(req)), protocolVersion);
  };

  const get = (req: Request, res: Response): Promise<void> | void => {
    if (!(req.headers.accept ?? '').includes('text/event-stream')) return replyError(res, problems.notAcceptable('text/event-stream'));
    return route(req, res, requestOf(req, 'GET'));
  };

  const remove = (req: Request, res: Response): Promise<void> | void => route(req, res, requestOf(req, 'DELETE'));

  /** Serves the request where its session lives: here, or on its owner through the bus. */
  const route = async (req: Request, res: Response, request: RelayedRequest, retried = false): Promise<void> => {
    const id = idOf(request.messages);
    const sessionId = req.headers['mcp-session-id'];
    if (typeof sessionId !== 'string' || sessionId === '') {
      // A 2026-07-28 client has no session, so no stream to GET nor session to DELETE.
      if (request.method !== 'POST' && isStatelessVersion(request.headers['mcp-protocol-version']))
        return replyError(res, problems.methodNotAllowed('POST'));
      return replyError(res, problems.missingSessionHeader(), id);
    }
    const local = registry.get(sessionId);
    if (local !== undefined && !handsOn(request)) {
      if (local.transport !== 'streamable-http' || local.isClosed) return replyError(res, problems.mcpSessionNotFound(), id);
      return serve(local, request, res);
    }
    if (bus.relay === undefined) return replyError(res, problems.mcpSessionNotFound(), id);
    // Durable sessions: a request its owner accepted and then dropped before its head (it died or drained) is routed
    // again, once: this time the session is adopted. An event-stream head goes out before the server sees the
    // request, so none ran; a JSON answer's head comes last, so with `jsonResponse` it may have run: 503 then.
    const lost = bus.journal !== undefined && !retried && !context.jsonResponse ? () => void route(req, res, request, true) : undefined;
    const relayed = await relay(req, res, sessionId, request, undefined, lost);
    if (relayed === 'accepted' || relayed === 'gone') return;
    // Durable sessions: the owner is gone (dead, expired or released), so this instance may rebuild the session.
    if ((relayed === 'unknown' || relayed === 'unavailable') && bus.adopt !== undefined && bus.journal !== undefined) {
      // A draining instance adopts nothing: another live instance adopts it and answers through the bus.
      if (settings.draining) {
        const handed = await relay(req, res, sessionId, request, 'any');
        if (handed === 'accepted' || handed === 'gone') return;
        return replyError(res, problems.draining(), id);
      }
      const adopted = await adoptSession(context, requesterOf(req), { sessionId }, 'streamable-http', makeAdopted);
      if ('session' in adopted) return serve(adopted.session, request, res);
      // Another instance adopted it first (or its owner is alive after all): relay to it, once.
      if (adopted.result === 'moved' && !retried) return route(req, res, request, true);
      // Otherwise the relay's answer stands: 404 when the owner said so, 503 when it could not be reached.
      if (adopted.result === 'forbidden') return replyError(res, problems.wrongPrincipal(), id);
    }
    return replyError(res, refusal(relayed, problems.mcpSessionNotFound), id);
  };

  /** Relays the request to its session's owner (or, `to: 'any'`, to any live instance, which adopts it). */
  const relay = (req: Request, res: Response, sessionId: string, request: RelayedRequest, to?: 'any', lost?: () => void) =>
    relayToOwner(context, req, res, sessionId, request, { to, lost, id: idOf(request.messages) });

  /**
   * A draining instance that released its sessions to a durable bus hands new requests (and new standalone streams,
   * and DELETE) on to another instance, which adopts the session; answers in flight still flow here, and so do
   * resumes, notifications and responses the server waits for.
   */
  const handsOn = (request: RelayedRequest): boolean => {
    if (!context.handingOn()) return false;
    if (request.method === 'POST') return request.messages.some(isRequest);
    const resume = request.headers['last-event-id'];
    return request.method === 'DELETE' || typeof resume !== 'string' || resume === '';
  };

  /** An adopted Streamable HTTP session, with the requests whose answers died with its previous owner. */
  const makeAdopted = (init: SessionInit, stored: AdoptableSession): StreamableHTTPTransport => {
    const session = new StreamableHTTPTransport(init, settings);
    session.restoreLost(stored.lost);
    return session;
  };

  /** The request's session is held here: the session's own rules, then the answer. */
  const serve = (session: StreamableHTTPTransport, request: RelayedRequest, res: ServerResponse): void => {
    const id = idOf(request.messages);
    if (!session.accepts(request.principalId)) return replyError(res, problems.wrongPrincipal(), id);
    const header = request.headers['mcp-protocol-version'];
    if (typeof header === 'string' && !isSessionVersion(header))
      return replyError(res, problems.unsupportedProtocolVersion(header, sessionProtocolVersions), id);
    // Without the header a request speaks 2025-03-26 (the spec's rule), on every method alike.
    const protocolVersion = typeof header === 'string' ? header : defaultProtocolVersion;
    if (request.method === 'DELETE') {
      // Unregistered now, so later requests get 404; the server's close goes on in the background (failures reported).
      void session.closeSession();
      if (!session.isClosed) void session.close();
      return replyNoContent(res, 200);
    }
    if (request.method === 'GET') return openStream(session, request, res, protocolVersion);
    if (request.messages.some((message) => message.method === 'initialize')) return replyError(res, problems.alreadyInitialized(), id);
    // While draining, requests in flight finish; a new one is refused (notifications and responses still pass).
    // With a durable bus the drain releases the session first (then new requests are handed on, see `handsOn`).
    if (settings.draining && bus.journal === undefined && request.messages.some(isRequest)) return replyError(res, problems.draining(), id);
    registry.counters.bytesIn += request.bytes;
    respond(session, res, request.messages, extraOf(request.headers, request.authInfo), protocolVersion);
  };

  /** GET: resumes the stream `Last-Event-ID` points into, or opens the standalone stream. */
  const openStream = (session: StreamableHTTPTransport, request: RelayedRequest, res: ServerResponse, protocolVersion: string): void => {
    const lastEventId = request.headers['last-event-id'];
    if (typeof lastEventId !== 'string' || lastEventId === '') {
      // A resume is served while draining (it carries answers in flight); a new standalone stream is not.
      if (settings.draining) return replyError(res, problems.draining());
      if (!session.openStandalone(res, protocolVersion)) replyError(res, problems.standaloneStreamOpen());
      return;
    }
    const at = parseEventId(lastEventId);
    // Another session's id is as unknown here as a made-up one: never replay someone else's events.
    if (at === undefined || registry.byStreamKey(at.key) !== session) return replyError(res, problems.unknownEventId());
    const resumed = session.resume(res, at);
    settings.telemetry?.around('mcp.stream.resume', session.sessionId, request.headers)?.end(resumed);
    if (resumed === 'conflict') return replyError(res, problems.standaloneStreamOpen());
    if (resumed === 'unknown') return replyError(res, problems.unknownEventId());
    if (resumed === 'gone') {
      report(
        new McpSseError(
          ErrorCodes.resumeGap,
          'Resume refused: the events after Last-Event-ID are no longer buffered (raise replayBufferSize or maxBufferedBytes).',
        ),
        { sessionId: session.sessionId },
      );
      replyError(res, problems.unknownEventId());
    }
  };

  /** 202 for notifications and responses only; else a stream (or one JSON body) carrying the responses. */
  const respond = (
    session: StreamableHTTPTransport,
    res: ServerResponse,
    messages: JSONRPCMessage[],
    extra: MessageExtra,
    protocolVersion: string,
  ): void => {
    if (!messages.some(isRequest)) {
      session.receive(messages, extra);
      // The spec: a 202 for notifications and responses carries no body.
      return replyNoContent(res, 202);
    }
    if (!context.jsonResponse) return session.post(res, messages, extra, { protocolVersion });
    session.post(res, messages, extra, {
      protocolVersion,
      json: (responses) => {
        if (res.writableEnded || res.destroyed) return;
        // The session closed before every response came: a drain is worth a retry, anything else a new session.
        if (responses === undefined) return replyError(res, settings.draining ? problems.draining() : problems.mcpSessionNotFound());
        const text = JSON.stringify(responses.length === 1 ? responses[0] : responses);
        res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), 'Mcp-Session-Id': session.sessionId });
        res.end(text);
      },
    });
  };

  const serveRelayed: BusNode['serve'] = (sessionId, request, sink) => {
    const session = registry.get(sessionId);
    if (session === undefined && bus.adopt !== undefined && bus.journal !== undefined && !settings.draining)
      return adoptRelayed(sessionId, request, sink);
    // Released by this draining instance: the relaying instance adopts it.
    if (handsOn(request)) return { result: 'unknown' };
    if (session?.transport !== 'streamable-http' || session.isClosed) return { result: 'unknown' };
    if (!session.accepts(request.principalId)) return { result: 'forbidden' };
    const res = new RelayResponse(sink);
    serve(session, request, res.asServerResponse());
    return { result: 'accepted', handle: { cancel: () => res.destroy() } };
  };

  /** A relayed request for a session not held here (its owner is gone, or drained): adopted here, then served. */
  const adoptRelayed = (sessionId: string, request: RelayedRequest, sink: RelaySink): ReturnType<BusNode['serve']> => {
    const res = new RelayResponse(sink);
    const out = res.asServerResponse();
    const requester = relayedRequester(request.principalId, request.authInfo, request.headers);
    void adoptSession(context, requester, { sessionId }, 'streamable-http', makeAdopted).then(
      (adopted) => {
        if (out.destroyed) return;
        if ('session' in adopted) return serve(adopted.session, request, out);
        replyError(out, refusal(adopted.result === 'moved' ? 'unavailable' : adopted.result, problems.mcpSessionNotFound), idOf(request.messages));
      },
      (error: unknown) => {
        report(new McpSseError(ErrorCodes.bus, 'Adopting a session for a relayed request failed.', { cause: error }), { sessionId });
        if (!out.destroyed) replyError(out, problems.busUnavailable(), idOf(request.messages));
      },
    );
    return { result: 'accepted', handle: { cancel: () => res.destroy() } };
  };

  const wrap = (method: string, handle: (req: Request, res: Response) => Promise<void> | void) =>
    asyncHandler(`handling a Streamable HTTP ${method}`, report, handle);
  return { POST: wrap('POST', post), GET: wrap('GET', get), DELETE: wrap('DELETE', remove), serveRelayed };
}

function isRequest(message: JSONRPCMessage): boolean {
  return message.method !== undefined && message.id !== undefined;
}

function idOf(messages: JSONRPCMessage[]): Id {
  return messages.length === 1 ? messages[0]!.id : undefined;
}

/** What the server learns about each message of a request. */
function extraOf(headers: RelayedRequest['headers'], authInfo: RelayedRequest['authInfo']): MessageExtra {
  const extra: MessageExtra = { requestInfo: { headers } };
  if (authInfo !== undefined) extra.authInfo = authInfo;
  return extra;
}
