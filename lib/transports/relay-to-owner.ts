// Relaying a request to the instance holding its session: the owner serves it, the client's response streams the answer.
import type { ServerResponse } from 'node:http';
import type { Request } from 'express';
import { authInfoOf, principalKeyOf } from '../auth/principal.js';
import type { DeliveryResult, RelayedRequest, SessionBus } from '../bus.js';
import { ErrorCodes, McpSseError } from '../errors.js';
import type { SessionSettings } from '../session/session.js';
import { sinkFor } from './streamable-http/relay-sink.js';

export interface RelayContext {
  bus: SessionBus;
  settings: Pick<SessionSettings, 'telemetry'>;
  report: (error: McpSseError, context: { sessionId?: string; req?: Request }) => void;
  /** Bytes a relayed answer may back up before the client is cut. */
  maxBufferedBytes: number;
}

export interface RelayOptions {
  /** Durable buses: send to any live instance, which adopts the session (a draining instance hands it on). */
  to?: 'any';
  /** Called when the owner accepted the request, then vanished before its head: serve it elsewhere. */
  lost?: () => void;
  /** The JSON-RPC id an error envelope carries. */
  id?: string | number;
}

/**
 * Relays `request` to the owner of `sessionId` (`bus.relay` must exist): `accepted` (the answer streams to `res`),
 * `gone` (the client left), or the refusal, with nothing written to `res`.
 */
export async function relayToOwner(
  context: RelayContext,
  req: Request,
  res: ServerResponse,
  sessionId: string,
  request: RelayedRequest,
  { to, lost, id }: RelayOptions = {},
): Promise<DeliveryResult | 'gone'> {
  const { bus, settings, report } = context;
  // Wired before the first await: a client leaving during the round trip is cancelled on the owner too.
  const left = new AbortController();
  const leave = () => left.abort(clientLeft);
  res.once('close', leave);
  const span = settings.telemetry?.around('mcp.session.relay', sessionId, request.headers);
  let relayed: Awaited<ReturnType<NonNullable<SessionBus['relay']>>>;
  try {
    const retry =
      lost === undefined
        ? undefined
        : () => {
            if (left.signal.aborted) return false;
            lost();
            return true;
          };
    relayed = await bus.relay!(sessionId, request, sinkFor(res, context.maxBufferedBytes, id, retry), left.signal, to);
  } catch (error) {
    report(new McpSseError(ErrorCodes.bus, 'Relaying a request through the session bus failed.', { cause: error }), { sessionId, req });
    relayed = { result: 'unavailable' };
  }
  // Ends once the owner took the request (or refused it): the request's own span is the owner's.
  span?.end(relayed.result === 'accepted' ? 'ok' : relayed.result);
  if (relayed.result !== 'accepted') {
    res.off('close', leave);
    return left.signal.aborted ? 'gone' : relayed.result;
  }
  const handle = relayed.handle;
  if (handle === undefined) return 'accepted';
  // A bus that ignores the signal still hears of the client leaving, even when it left during the round trip.
  if (left.signal.aborted) handle.cancel();
  else left.signal.addEventListener('abort', () => handle.cancel(), { once: true });
  return 'accepted';
}

/** The parts of a request its session's owner needs, wherever that is (a `GET` unless told). */
export function requestOf(req: Request, method: RelayedRequest['method'] = 'GET'): RelayedRequest {
  return { method, messages: [], bytes: 0, principalId: principalKeyOf(req), authInfo: authInfoOf(req), headers: req.headers };
}

/** The abort reason of a relay whose client left: one shared value, as `abort()` would build a DOMException each time. */
const clientLeft = Object.freeze(new Error('The client closed its connection.'));
