// The SessionBus seam: how a POST or a broadcast reaches sessions, and the in-memory (one process) default.
import type { IncomingHttpHeaders } from 'node:http';
import type { AuthInfo, JSONRPCMessage } from './types.js';

/** What a bus learns when a session starts living on this instance. */
export interface BusSession {
  sessionId: string;
  /** Key (strategy and id, see `principalKey`) of the principal that opened the session; `undefined` if anonymous. */
  principalId: string | undefined;
}

/** Messages for a session, as a POST delivered them. */
export interface Delivery {
  messages: JSONRPCMessage[];
  /** The poster's principal key, strategy and id (`undefined` when the messages route is not guarded). */
  principalId: string | undefined;
  authInfo: AuthInfo | undefined;
  /** Headers of the POST, passed to the server as `extra.requestInfo.headers`. */
  headers?: IncomingHttpHeaders;
}

/**
 * Outcome of handing messages to a session:
 * `accepted` (202), `unknown` (404), `forbidden` (403, another principal's session),
 * `unavailable` (503, the bus cannot reach the owner now).
 */
export type DeliveryResult = 'accepted' | 'unknown' | 'forbidden' | 'unavailable';

/** The local side of the router that a bus delivers into. */
export interface BusNode {
  /** Hands messages to a session held by this instance. */
  deliver(sessionId: string, delivery: Delivery): DeliveryResult;
  /** Writes an already serialised notification to every session of this instance; returns how many. */
  broadcastLocal(json: string): number;
  /** Reports a bus problem through the router's `onError`. */
  reportError(error: Error): void;
}

/**
 * Cross-session delivery. The router calls these; an implementation for several processes (see
 * `express-mcp-sse/redis`) keeps a directory of which instance owns which session.
 */
export interface SessionBus {
  /** Called once when the router is created. */
  attach(node: BusNode): void | Promise<void>;
  /** A session now lives on this instance. */
  sessionOpened(session: BusSession): void;
  /** A session of this instance has closed. */
  sessionClosed(sessionId: string): void;
  /** Hands messages to a session this instance does not hold. */
  forward(sessionId: string, delivery: Delivery): Promise<DeliveryResult>;
  /** Sends an already serialised notification to the sessions of every other instance. */
  publishBroadcast(json: string): void;
  /** Stops the bus; called by `router.close()`. */
  close(): Promise<void>;
}

/** The default bus: one process, so a session this instance does not hold does not exist. */
export class InMemorySessionBus implements SessionBus {
  attach(): void {}
  sessionOpened(): void {}
  sessionClosed(): void {}
  async forward(): Promise<DeliveryResult> {
    return 'unknown';
  }
  publishBroadcast(): void {}
  async close(): Promise<void> {}
}
