// POST {messagesPath}?sessionId=…: hands client JSON-RPC messages to their session, here or via the bus.
import type { Request, RequestHandler } from 'express';
import type { SessionBus, DeliveryResult } from '../../bus.js';
import { ErrorCodes, McpSseError } from '../../errors.js';
import type { SessionRegistry } from '../../session/registry.js';
import { authInfoOf, principalKeyOf } from '../../auth/principal.js';
import { isJsonContentType, readMessages, type BodyLimits } from '../../http/body.js';
import { problems, replyAccepted, replyError, type HttpProblem } from '../../http/reply.js';

export interface MessagesHandlerContext extends BodyLimits {
  ssePath: string;
  messagesPath: string;
  registry: SessionRegistry;
  bus: SessionBus;
  report: (error: McpSseError, context: { sessionId?: string; req?: Request }) => void;
}

export function createMessagesHandler(context: MessagesHandlerContext): RequestHandler {
  const { registry, bus, report } = context;
  const refusals: Record<Exclude<DeliveryResult, 'accepted'>, (req: Request) => HttpProblem> = {
    unknown: (req) => problems.sessionNotFound(req.baseUrl + context.ssePath),
    forbidden: problems.wrongPrincipal,
    unavailable: problems.busUnavailable,
  };

  const handle = async (req: Request, res: Parameters<RequestHandler>[1]): Promise<void> => {
    if (!isJsonContentType(req.headers['content-type'])) return replyError(res, problems.notJson());
    const body = await readMessages(req, context);
    if (!body.ok) {
      if (body.problem !== undefined) replyError(res, body.problem, body.id);
      return;
    }
    const requestId = body.messages.length === 1 ? body.messages[0]!.id : undefined;
    const sessionId = sessionIdOf(req);
    if (sessionId === undefined) return replyError(res, problems.missingSessionId(context.messagesPath), requestId);

    const delivery = { messages: body.messages, principalId: principalKeyOf(req), authInfo: authInfoOf(req), headers: req.headers };
    // A session held here takes the messages at once (a Streamable HTTP one refuses them: its answers would go
    // nowhere); a session not held here is the bus's to find.
    let result = registry.deliver(sessionId, delivery);
    if (result === 'unknown' && registry.get(sessionId) === undefined) {
      try {
        result = await bus.forward(sessionId, delivery);
      } catch (error) {
        report(new McpSseError(ErrorCodes.bus, 'Forwarding a message through the session bus failed.', { cause: error }), { sessionId, req });
        result = 'unavailable';
      }
    }
    if (result !== 'accepted') return replyError(res, refusals[result](req), requestId);
    registry.counters.bytesIn += body.bytes;
    replyAccepted(res);
  };

  return (req, res, next) => {
    handle(req, res).catch((error: unknown) => {
      report(new McpSseError(ErrorCodes.request, "Unexpected failure while handling a POST; passed to the app's error handler.", { cause: error }), {
        req,
      });
      next(error);
    });
  };
}

function sessionIdOf(req: Request): string | undefined {
  const value = req.query.sessionId;
  return typeof value === 'string' && value !== '' ? value : undefined;
}
