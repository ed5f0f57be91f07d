// Counters every session and route updates, and the snapshot `sessions.stats()` returns.

/** A snapshot of the router's activity since it was created. */
export interface SessionStats {
  /** Sessions with an open stream. */
  active: number;
  /** Sessions whose stream dropped and that wait to be resumed. */
  detached: number;
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
}

/** The mutable counters behind `SessionStats` (active and detached are counted live by the registry). */
export type Counters = Omit<SessionStats, 'active' | 'detached'>;

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
  };
}
