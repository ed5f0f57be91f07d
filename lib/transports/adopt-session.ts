// Adopting a durable session whose owner is gone: rebuilds it here with the same id, event-id key and stored state.
import type { IncomingHttpHeaders } from 'node:http';
import type { Request } from 'express';
import { authInfoOf, principalKey, principalOf, recordStrategy } from '../auth/principal.js';
import type { AdoptableSession, AdoptResult, SessionBus } from '../bus.js';
import { ErrorCodes, McpSseError } from '../errors.js';
import { logSession } from '../log.js';
import type { SessionInit } from '../session/session.js';
import type { AuthInfo, JSONRPCMessage, MessageExtra, Principal, ServerLike } from '../types.js';
import type { SessionOpener } from './open-session.js';
import type { SessionTransport } from './session-registry.js';

/** What asking the bus came to: the rebuilt session, or why there is none (`moved`: relay to its new owner). */
export type Adoption<T> = { session: T } | Exclude<AdoptResult, { result: 'adopt' }>;

/** Who asks for the session: the principal, its auth info and the request's headers. */
export interface Requester {
  user: Principal | undefined;
  authInfo: AuthInfo | undefined;
  headers: IncomingHttpHeaders;
}

/** The requester of a request received here. */
export function requesterOf(req: Request): Requester {
  return { user: principalOf(req), authInfo: authInfoOf(req), headers: req.headers };
}

/**
 * The requester of a request relayed from another instance, which carries the principal's key (`<strategy>:<id>`),
 * not the object: a principal `{ id }` recorded with the same strategy has the same key, so binding holds.
 */
export function relayedRequester(principalId: string | undefined, authInfo: AuthInfo | undefined, headers: IncomingHttpHeaders): Requester {
  if (principalId === undefined) return { user: undefined, authInfo, headers };
  const colon = principalId.indexOf(':');
  const user: Principal = { id: principalId.slice(colon + 1) };
  const strategy = decodeURIComponent(principalId.slice(0, colon));
  if (strategy !== '') recordStrategy(user, strategy);
  return { user, authInfo, headers };
}

/** How long the replayed `initialize` and state requests may take before the adoption goes on without them. */
const REPLAY_TIMEOUT_MS = 5000;

/**
 * Asks a durable bus for the session `ref` names and, when this instance gets it, rebuilds it: `createServer()` with
 * `adopted: true`, then the stored `initialize`, `notifications/initialized` and state requests handed to the server
 * through the SDK `Transport` interface (`onmessage`), their answers kept from the client. Never throws.
 */
export async function adoptSession<T extends SessionTransport>(...args: Parameters<typeof adopt<T>>): Promise<Adoption<T>> {
  const [opener, requester, ref] = args;
  if (opener.bus.adopt === undefined || opener.bus.journal === undefined) return { result: 'unknown' };
  const span = opener.settings.telemetry?.around('mcp.session.adopt', 'sessionId' in ref ? ref.sessionId : undefined, requester.headers);
  const adoption = await adopt(...args);
  span?.end('session' in adoption ? 'ok' : adoption.result);
  return adoption;
}

async function adopt<T extends SessionTransport>(
  opener: SessionOpener & { bus: SessionBus },
  requester: Requester,
  ref: { sessionId: string } | { streamKey: string },
  kind: T['transport'],
  make: (init: SessionInit, stored: AdoptableSession) => T,
): Promise<Adoption<T>> {
  const { options, registry, settings, report, bus } = opener;
  if (bus.adopt === undefined || bus.journal === undefined) return { result: 'unknown' };
  // A draining instance adopts nothing: 503 (with Retry-After) sends the client to another instance.
  if (settings.draining) return { result: 'unavailable' };
  const { user, authInfo, headers } = requester;
  const principalId = principalKey(user);
  const asked = await bus.adopt(ref, principalId);
  if (asked.result !== 'adopt') return asked;
  const stored = asked.session;
  try {
    // A session of the other wire by this id is as unknown as none (the same rule as for live sessions).
    if (stored.transport !== kind) return { result: 'unknown' };
    if (registry.get(stored.sessionId) !== undefined) return { result: 'moved', sessionId: stored.sessionId };
    // The caps hold for adopted sessions too (the oldest idle competitor is evicted first); an instance that is full
    // does not adopt: 503 with Retry-After sends the client to another instance, which takes the released lease.
    const admitted = registry.admit(principalId);
    if (admitted !== 'ok') {
      logSession('not adopting %s: %s', stored.sessionId, admitted);
      return { result: 'unavailable' };
    }
    const nextStream = stored.lastStream + 1;
    const init: SessionInit = {
      sessionId: stored.sessionId,
      user,
      authInfo,
      headers: headers,
      protocolVersion: stored.protocolVersion,
      restore: {
        streamKey: stored.streamKey,
        lastSeq: stored.lastSeq,
        nextStream,
        initialize: stored.initialize,
        stateRequests: stored.stateRequests,
      },
    };
    const session = make(init, stored);
    session.restoreFrames(stored.frames);
    try {
      const server: ServerLike = await options.createServer({
        transport: session.transport,
        sessionId: session.sessionId,
        user,
        authInfo,
        headers: headers,
        protocolVersion: stored.protocolVersion,
        adopted: true,
      });
      if (typeof server?.connect !== 'function') throw new TypeError('createServer() must return an MCP server (an object with connect(transport)).');
      session.bindServer(server);
      await server.connect(session);
      await replayState(
        session,
        stored,
        authInfo === undefined ? { requestInfo: { headers: headers } } : { authInfo, requestInfo: { headers: headers } },
      );
    } catch (error) {
      await session.close();
      report(
        new McpSseError(ErrorCodes.createServer, 'createServer() or server.connect() failed while adopting a durable session.', { cause: error }),
        {
          sessionId: stored.sessionId,
        },
      );
      return { result: 'unavailable' };
    }
    if (session.isClosed) return { result: 'unknown' };
    // Registered (and named owner in the directory) only now: a request relayed here meets a server that has
    // seen its client's initialize. Others wait for that (the lease), then relay.
    registry.add(session);
    logSession('adopted %s (%s) for %s', session.sessionId, session.transport, user?.id ?? 'anonymous');
    return { session };
  } finally {
    stored.done();
  }
}

/**
 * Hands the stored `initialize`, `notifications/initialized` and state requests to the freshly connected server, as
 * the client once sent them, and waits for their answers, which the client already had: they are not sent.
 */
async function replayState(session: SessionTransport, stored: AdoptableSession, extra: MessageExtra): Promise<void> {
  const pending = new Map<string, () => void>();
  const replayed: JSONRPCMessage[] = [];
  if (stored.initialize !== undefined) replayed.push(stored.initialize, { jsonrpc: '2.0', method: 'notifications/initialized' });
  replayed.push(...stored.stateRequests);
  const waits: Promise<void>[] = [];
  const messages = replayed.map((message, i) => {
    if (message.id === undefined) return message;
    // Ids of their own, so no answer can be taken for one of the client's.
    const id = `mcp-sse-adopt-${i}`;
    waits.push(new Promise<void>((resolve) => pending.set(id, resolve)));
    return { ...message, id };
  });
  const send = session.send;
  // The SDK calls `transport.send()` at call time: an own property in front of the method keeps these answers.
  const own = session as unknown as { send: typeof send };
  own.send = (message, options) => {
    const swallow = message.method === undefined && typeof message.id === 'string' ? pending.get(message.id) : undefined;
    if (swallow === undefined) return send.call(session, message, options);
    pending.delete(message.id as string);
    swallow();
    return Promise.resolve();
  };
  try {
    for (const message of messages) session.onmessage?.(message, extra);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(waits), new Promise<void>((resolve) => (timer = setTimeout(resolve, REPLAY_TIMEOUT_MS)))]);
    clearTimeout(timer);
  } finally {
    delete (own as { send?: unknown }).send;
  }
}
