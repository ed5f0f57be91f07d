// Opening a session, for both transports: caps, the registry, the user's createServer() and connect().
import { randomUUID } from 'node:crypto';
import type { Request, Response } from 'express';
import { authInfoOf, principalKey, principalOf } from '../auth/principal.js';
import { ErrorCodes, McpSseError } from '../errors.js';
import { problems, replyError } from '../http/reply.js';
import { logSession } from '../log.js';
import type { ResolvedOptions } from '../options.js';
import type { SessionRegistry, SessionTransport } from './session-registry.js';
import type { SessionInit, SessionSettings } from '../session/session.js';
import type { ServerLike } from '../types.js';

/** What opening a session needs from the router. */
export interface SessionOpener {
  options: Pick<ResolvedOptions, 'createServer' | 'maxSessionsPerUser'>;
  registry: SessionRegistry;
  settings: SessionSettings;
  report: (error: McpSseError, context: { sessionId?: string; req?: Request }) => void;
}

/**
 * Admits, registers and connects a new session built by `make`, answering `res` with the error when that fails.
 * Resolves to the connected session, or `undefined` when the request was answered (or its client left).
 */
export async function openSession<T extends SessionTransport>(
  opener: SessionOpener,
  req: Request,
  res: Response,
  protocolVersion: string | undefined,
  make: (init: SessionInit) => T,
  /** The id of the opening request (Streamable HTTP `initialize`), echoed by refusals. */
  requestId?: string | number,
): Promise<T | undefined> {
  const { options, registry, settings, report } = opener;
  const user = principalOf(req);
  const authInfo = authInfoOf(req);
  const admitted = registry.admit(principalKey(user));
  if (admitted === 'sessions-full') return void replyError(res, problems.sessionsFull(), requestId);
  if (admitted === 'user-full') return void replyError(res, problems.userSessionsFull(options.maxSessionsPerUser), requestId);

  const sessionId = randomUUID();
  const session = make({ sessionId, user, authInfo, headers: req.headers, protocolVersion });
  // Registered before createServer() runs, so concurrent opens count against the caps.
  registry.add(session);
  let clientGone = false;
  const onGone = () => (clientGone = true);
  res.once('close', onGone);
  try {
    const server: ServerLike = await options.createServer({
      transport: session.transport,
      sessionId,
      user,
      authInfo,
      headers: req.headers,
      protocolVersion,
      adopted: false,
    });
    if (typeof server?.connect !== 'function') {
      throw new TypeError('createServer() must return an MCP server (an object with connect(transport)).');
    }
    session.bindServer(server);
    await server.connect(session);
  } catch (error) {
    res.off('close', onGone);
    await session.close();
    report(new McpSseError(ErrorCodes.createServer, 'createServer() or server.connect() failed; the session was not opened.', { cause: error }), {
      sessionId,
      req,
    });
    if (!clientGone) replyError(res, problems.createServerFailed(), requestId);
    return undefined;
  }
  res.off('close', onGone);
  // The session may also have been closed meanwhile (router.close(), sessions.close()): never serve a dead one.
  if (clientGone || settings.draining || session.isClosed) {
    await session.closeSession();
    if (!clientGone) replyError(res, problems.draining(), requestId);
    return undefined;
  }
  logSession('opened %s (%s) for %s', sessionId, session.transport, user?.id ?? 'anonymous');
  return session;
}
