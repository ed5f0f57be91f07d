// Relaying a request to the instance holding its session: the owner serves it, the client's response streams the answer.
import type { ServerResponse } from 'node:http';
import type { Request } from 'express';
import { authInfoOf, principalKeyOf } from '../auth/principal.js';
import type { DeliveryResult, RelayedRequest, SessionBus } from '../bus.js';
import { ErrorCodes, McpSseError } from '../errors.js';
import type { SessionSettings } from '../session/session.js';
import { problems, replyError } from '../http/reply.js';
import { formatRetry } from '../sse/format.js';
import { sinkFor } from './streamable-http/relay-sink.js';

export interface RelayContext {
  bus: SessionBus;
  settings: Pick<SessionSettings, 'telemetry'>;
  report: (error: McpSseError, context: { sessionId?: string; req?: Request }) => void;
  /** Bytes a relayed answer may back up before the client is cut. */
  maxBufferedBytes: number;
  /** What this instance relays now, for a drain to wait for (answers) or end (streams). */
  relays: RelaysInFlight;
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
  context.relays.track(res, request.method === 'GET');
  const handle = relayed.handle;
  if (handle === undefined) return 'accepted';
  // A bus that ignores the signal still hears of the client leaving, even when it left during the round trip.
  if (left.signal.aborted) handle.cancel();
  else left.signal.addEventListener('abort', () => handle.cancel(), { once: true });
  return 'accepted';
}

/**
 * The answers and streams other instances serve to this instance's clients through the bus. A drain waits for the
 * answers (requests in flight) and ends the streams (standalone streams, resumes) with a `retry:` hint, so their
 * clients reconnect to an instance that stays.
 */
export class RelaysInFlight {
  readonly #answers = new Set<ServerResponse>();
  readonly #streams = new Set<ServerResponse>();
  #waiters: (() => void)[] = [];

  /** Relayed answers still streaming to their clients. */
  get answers(): number {
    return this.#answers.size;
  }

  track(res: ServerResponse, stream: boolean): void {
    if (res.destroyed || res.writableEnded) return;
    const set = stream ? this.#streams : this.#answers;
    set.add(res);
    res.once('close', () => {
      set.delete(res);
      if (this.#answers.size === 0) for (const wake of this.#waiters.splice(0)) wake();
    });
  }

  /** Ends every relayed stream: a `retry:` hint when it is streaming, else 503 (with `Retry-After`). */
  endStreams(retryMs: number): void {
    for (const res of this.#streams) {
      if (res.destroyed || res.writableEnded) continue;
      if (res.headersSent) res.end(formatRetry(retryMs));
      else replyError(res, problems.draining());
    }
  }

  /** Resolves once no relayed answer is streaming. */
  settled(): Promise<void> {
    if (this.#answers.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }
}

/** The parts of a request its session's owner needs, wherever that is (a `GET` unless told). */
export function requestOf(req: Request, method: RelayedRequest['method'] = 'GET'): RelayedRequest {
  return { method, messages: [], bytes: 0, principalId: principalKeyOf(req), authInfo: authInfoOf(req), headers: req.headers };
}

/** The abort reason of a relay whose client left: one shared value, as `abort()` would build a DOMException each time. */
const clientLeft = Object.freeze(new Error('The client closed its connection.'));
