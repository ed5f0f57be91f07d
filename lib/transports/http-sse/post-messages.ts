// POST {messagesPath}?sessionId=…: hands client JSON-RPC messages to their session, here or via the bus.
import { parse as parseQuery } from 'node:querystring';
import type { Request, RequestHandler, Response } from 'express';
import type { Delivery, DeliveryResult, SessionBus } from '../../bus.js';
import { ErrorCodes, McpSseError } from '../../errors.js';
import type { SessionRegistry } from '../session-registry.js';
import { authInfoOf, principalKeyOf } from '../../auth/principal.js';
import { asyncHandler } from '../../http/async-handler.js';
import { isJsonContentType, preParsedIdOf, readMessages, type BodyLimits, type BodyResult } from '../../http/body.js';
import { problems, refusal, replyAccepted, replyError } from '../../http/reply.js';
import type { Adoption } from '../adopt-session.js';
import { deliverToSse } from './deliver.js';
import type { JSONRPCMessage } from '../../types.js';
import type { SSETransport } from './transport.js';

export interface MessagesHandlerContext extends BodyLimits {
  ssePath: string;
  messagesPath: string;
  registry: SessionRegistry;
  bus: SessionBus;
  report: (error: McpSseError, context: { sessionId?: string; req?: Request }) => void;
  readonly settings: { readonly draining: boolean };
  /** Durable sessions: rebuilds here a session whose owner is gone (see `adoptSession`). */
  adopt?: ((req: Request, sessionId: string) => Promise<Adoption<SSETransport>>) | undefined;
}

/** One POST, with what it needs from its request (read before its body: see `handle`). */
interface Post {
  req: Request;
  res: Response;
  sessionId: string | undefined;
  sender: Omit<Delivery, 'messages'>;
}

/** A POST whose messages were read: where they go, and what the answer needs. */
interface ReadPost {
  req: Request;
  res: Response;
  sessionId: string;
  delivery: Delivery;
  bytes: number;
  requestId: JSONRPCMessage['id'];
}

export function createMessagesHandler(context: MessagesHandlerContext): RequestHandler {
  const { registry, bus, report, settings } = context;

  // Synchronous while it can be: a body already buffered, for a session held here (the common case), is answered
  // without a promise; reading a body still on the wire, or asking the bus, is async.
  const handle = (req: Request, res: Response): void | Promise<void> => {
    const headers = req.headers;
    if (!isJsonContentType(headers['content-type'])) return replyError(res, problems.notJson(), preParsedIdOf(req));
    // Everything from the request is read now: V8 finds a request's fields fastest in the turn the router got it,
    // before reading the body changes the object (each field read later costs a lookup miss, ~1% of a call).
    const post: Post = { req, res, sessionId: sessionIdOf(req), sender: { principalId: principalKeyOf(req), authInfo: authInfoOf(req), headers } };
    const body = readMessages(req, context);
    return body instanceof Promise ? body.then((read) => deliver(post, read)) : deliver(post, body);
  };

  const deliver = ({ req, res, sessionId, sender }: Post, body: BodyResult): void | Promise<void> => {
    if (!body.ok) {
      if (body.problem !== undefined) replyError(res, body.problem, body.id);
      return;
    }
    const requestId = body.messages.length === 1 ? body.messages[0]!.id : undefined;
    if (sessionId === undefined) return replyError(res, problems.missingSessionId(context.messagesPath), requestId);

    const delivery: Delivery = { messages: body.messages, ...sender };
    const post: ReadPost = { req, res, sessionId, delivery, bytes: body.bytes, requestId };
    // A session held here takes the messages at once (a Streamable HTTP one refuses them: its answers would go
    // nowhere); a session not held here is the bus's to find.
    const result = deliverToSse(registry, sessionId, delivery, settings.draining);
    if (result === 'unknown' && registry.get(sessionId) === undefined) return deliverElsewhere(post);
    answer(post, result);
  };

  const deliverElsewhere = async (post: ReadPost): Promise<void> => {
    const { req, sessionId, delivery } = post;
    let result: DeliveryResult;
    try {
      result = await bus.forward(sessionId, delivery);
    } catch (error) {
      report(new McpSseError(ErrorCodes.bus, 'Forwarding a message through the session bus failed.', { cause: error }), { sessionId, req });
      result = 'unavailable';
    }
    // Durable sessions: the owner is gone, so this instance may rebuild the session; its answers wait for a resume.
    if ((result === 'unknown' || result === 'unavailable') && context.adopt !== undefined) {
      const adopted = await context.adopt(req, sessionId);
      if ('session' in adopted) {
        adopted.session.awaitResume();
        result = deliverToSse(registry, sessionId, delivery, settings.draining);
      } else if (adopted.result === 'moved') {
        result = await bus.forward(sessionId, delivery).catch(() => 'unavailable' as const);
      } else if (adopted.result === 'forbidden') {
        // Otherwise the forward's answer stands: 404 when the owner said so, 503 when it could not be reached.
        result = 'forbidden';
      }
    }
    answer(post, result);
  };

  const answer = ({ req, res, sessionId, bytes, requestId }: ReadPost, result: DeliveryResult): void => {
    if (result === 'unavailable' && settings.draining && registry.get(sessionId) !== undefined) {
      return replyError(res, problems.draining(), requestId);
    }
    if (result !== 'accepted')
      return replyError(
        res,
        refusal(result, () => problems.sessionNotFound(req.baseUrl + context.ssePath)),
        requestId,
      );
    registry.counters.bytesIn += bytes;
    replyAccepted(res);
  };

  return asyncHandler('handling a POST', report, handle);
}

/**
 * The `sessionId` query parameter, as `querystring` reads it, from the URL itself: Express 5 parses the whole query
 * again on every read of `req.query`, and an app may have set its `query parser` to another one, or to none. The
 * usual query, `sessionId=<id>` alone, is read without parsing.
 */
export function sessionIdOf(req: Request): string | undefined {
  const url = req.url;
  const mark = url.indexOf('?');
  if (mark === -1) return undefined;
  const query = url.slice(mark + 1);
  if (query.startsWith('sessionId=') && !/[&%+]/.test(query))
    return query.length > 'sessionId='.length ? query.slice('sessionId='.length) : undefined;
  const value = parseQuery(query).sessionId;
  return typeof value === 'string' && value !== '' ? value : undefined;
}
