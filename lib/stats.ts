// Counters every session and route updates, and the snapshot `sessions.stats()` returns.

/** Sessions of one transport alive now. */
export interface TransportSessionStats {
  /** Sessions with an open stream or a request in flight. */
  active: number;
  /** Sessions waiting for their client: an SSE stream that dropped, or a Streamable HTTP session with nothing open. */
  detached: number;
}

/** A snapshot of the router's activity since it was created. */
export interface SessionStats {
  /** Sessions with an open stream (or, on Streamable HTTP, a request in flight). */
  active: number;
  /** Sessions waiting for their client (dropped SSE streams, idle Streamable HTTP sessions). */
  detached: number;
  /** `active` and `detached` per transport. */
  byTransport: { sse: TransportSessionStats; 'streamable-http': TransportSessionStats };
  opened: number;
  closed: number;
  resumed: number;
  /** Client messages handed to sessions of this instance. */
  messagesIn: number;
  /** Server messages sent (or buffered while detached). */
  messagesOut: number;
  /** Bytes of POST bodies accepted. */
  bytesIn: number;
  /** Bytes of SSE frames written or buffered, keep-alives included. */
  bytesOut: number;
  slowConsumerCuts: number;
  authFailures: number;
  rateLimited: number;
  /** Stateless (2026-07-28) requests handed to an SDK v2 server. */
  statelessRequests: number;
  /** Open `subscriptions/listen` streams of stateless clients. */
  listening: number;
}

/** The mutable counters behind `SessionStats` (active and detached are counted live by the registry). */
export type Counters = Omit<SessionStats, 'active' | 'detached' | 'byTransport' | 'listening'>;

export function createCounters(): Counters {
  return {
    opened: 0,
    closed: 0,
    resumed: 0,
    messagesIn: 0,
    messagesOut: 0,
    bytesIn: 0,
    bytesOut: 0,
    slowConsumerCuts: 0,
    authFailures: 0,
    rateLimited: 0,
    statelessRequests: 0,
  };
}
