// The SessionBus seam: how a POST or a broadcast reaches sessions, and the in-memory (one process) default.
import type { IncomingHttpHeaders } from 'node:http';
import type { AuthInfo, JSONRPCMessage } from './types.js';

/** What a bus learns when a session starts living on this instance. */
export interface BusSession {
  sessionId: string;
  /** Key (strategy and id, see `principalKey`) of the principal that opened the session; `undefined` if anonymous. */
  principalId: string | undefined;
  /** What a durable bus stores to rebuild the session elsewhere (see `SessionJournal`). */
  durable?: DurableSession;
}

/** What a durable bus keeps about a session besides its messages and frames, to rebuild it on another instance. */
export interface DurableSession {
  transport: 'sse' | 'streamable-http';
  protocolVersion: string | undefined;
  /** Prefix of the session's event ids: kept on adoption so the client's `Last-Event-ID` stays valid. */
  streamKey: string;
  /** HTTP+SSE: the data of the `endpoint` event. */
  endpoint: string | undefined;
  /** How long the session waits for its client (`sessionIdleMs` or `resumeWindowMs`): the stored record outlives it. */
  ttlMs: number;
  /** The per-stream bound of the replay (`maxBufferedBytes`), also the bound of the stored frames. */
  maxBufferedBytes: number;
  /** True when this instance adopted the session from another. */
  adopted: boolean;
  /** Adopted sessions: what was stored about them (the journal keeps it, to write it again after Redis lost it). */
  restored?: { initialize: JSONRPCMessage | undefined; stateRequests: readonly JSONRPCMessage[] } | undefined;
}

/**
 * The core's side of a durable bus: every client message a session hands to its server and every event-stream
 * frame it emits. Called on the hot path: an implementation only queues (and writes later, off the hot path).
 */
export interface SessionJournal {
  /** A client message handed to the session's server; a request's answer goes to `stream`. */
  message(sessionId: string, message: JSONRPCMessage, stream: number): void;
  /** An event-stream frame, event `seq` on `stream`. */
  frame(sessionId: string, stream: number, seq: number, frame: string): void;
  /**
   * The router drains: the session is released, not forgotten (its closing no longer deletes what is stored), so
   * the next request for it is adopted by another instance at once. Resolves once written (its frames too).
   */
  release(sessionId: string): Promise<void>;
}

/** A stored session this instance may rebuild: it holds the lease until `done()`. */
export interface AdoptableSession extends DurableSession {
  sessionId: string;
  principalId: string | undefined;
  /** The client's `initialize` request, as it sent it. */
  initialize: JSONRPCMessage | undefined;
  /** The requests that changed session state since (`logging/setLevel`, `resources/subscribe`…), in order. */
  stateRequests: JSONRPCMessage[];
  /** The stored frames, oldest first. */
  frames: { stream: number; seq: number; frame: string }[];
  /** Requests whose answer died with their instance, by stream. */
  lost: Map<number, (string | number)[]>;
  /** The highest event sequence number and stream number stored. */
  lastSeq: number;
  lastStream: number;
  /** Releases the lease: the session is registered here (or rebuilding it failed). */
  done(): void;
}

/**
 * What asking to adopt a session came to: `adopt` (rebuild it here), `moved` (its owner is alive: relay to it; the
 * session's id comes with it, for a session asked for by its stream key), `unknown` (nothing stored: 404),
 * `forbidden` (another principal's: 403), `unavailable` (cannot tell now: 503).
 */
export type AdoptResult =
  | { result: 'adopt'; session: AdoptableSession }
  | { result: 'moved'; sessionId?: string }
  | { result: 'unknown' | 'forbidden' | 'unavailable' };

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

/**
 * A Streamable HTTP request (or a legacy HTTP+SSE resume) for a session another instance holds: the request, already
 * read and checked by the instance that received it, for the owner to serve as if it had arrived there.
 */
export interface RelayedRequest {
  method: 'POST' | 'GET' | 'DELETE';
  /** `'sse'`: a `GET {ssePath}` with `Last-Event-ID` resuming a legacy HTTP+SSE session (else Streamable HTTP). */
  transport?: 'sse';
  /** POST: the JSON-RPC messages of the body. */
  messages: JSONRPCMessage[];
  /** Size of the POST body, for the owner's counters. */
  bytes: number;
  /** The poster's principal id (`undefined` when the route is not guarded). */
  principalId: string | undefined;
  authInfo: AuthInfo | undefined;
  /** Headers of the request (`Mcp-Session-Id`, `MCP-Protocol-Version`, `Last-Event-ID`, …). */
  headers: IncomingHttpHeaders;
}

/**
 * Why a relayed answer will not come: the owner cannot be reached any more (`bus_unavailable`), or the instance
 * holding the client is shutting down (`shutting_down`).
 */
export type RelayFailure = 'bus_unavailable' | 'shutting_down';

/** Where the owner's HTTP answer to a relayed request goes, piece by piece, on the instance holding the client. */
export interface RelaySink {
  head(status: number, headers: Record<string, string>): void;
  write(chunk: string): void;
  /** The answer is complete. An end before any `head()` means it was lost: the client gets a 503 error envelope. */
  end(chunk?: string): void;
  /**
   * The bus gives up on this answer: the client gets a 503 error envelope (with `Retry-After`) if it has no head yet,
   * else its stream ends and it resumes. Optional for sinks a bus makes itself; the router's sinks have it.
   */
  fail?(reason: RelayFailure): void;
}

/** A relayed request the owner took: its answer flows to the sink until it ends or `cancel()` (the client left). */
export interface RelayHandle {
  cancel(): void;
}

/** The local side of the router that a bus delivers into. */
export interface BusNode {
  /** Hands messages to a session held by this instance. */
  deliver(sessionId: string, delivery: Delivery): DeliveryResult;
  /**
   * Serves a Streamable HTTP request relayed from another instance for a session of this one, answering into
   * `sink`; a refusal (`unknown`, `forbidden`) writes nothing.
   */
  serve(sessionId: string, request: RelayedRequest, sink: RelaySink): { result: DeliveryResult; handle?: RelayHandle };
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
  /**
   * Serves a Streamable HTTP request on the instance holding its session, streaming the answer back into `sink`.
   * Resolves once the owner took it (`accepted`, with a handle to cancel it when the client leaves) or refused it
   * (nothing written then). `signal` aborts when the client leaves, possibly before this resolves: the bus then
   * cancels the relay on the owner as soon as it can (a bus that ignores it still gets `cancel()` once it resolves).
   * Optional: a bus without it serves Streamable HTTP sessions on their own instance only.
   */
  relay?(
    sessionId: string,
    request: RelayedRequest,
    sink: RelaySink,
    signal?: AbortSignal,
    /**
     * Durable buses: `'any'` sends the request to any other live instance, which adopts the session (a draining
     * instance's way to hand a request for a released session on).
     */
    to?: 'any',
  ): Promise<{ result: DeliveryResult; handle?: RelayHandle }>;
  /** Sends an already serialised notification to the sessions of every other instance. */
  publishBroadcast(json: string): void;
  /** Stops the bus; called by `router.close()`. */
  close(): Promise<void>;
  /** Durable buses: where the core records what rebuilding a session elsewhere takes. */
  readonly journal?: SessionJournal | undefined;
  /**
   * Durable buses: asks to adopt a session this instance does not hold (by id, or by the key of its event ids for
   * a legacy resume) for a request by `principalId`, whose owner is gone. At most one instance gets `adopt`.
   */
  adopt?(ref: { sessionId: string } | { streamKey: string }, principalId: string | undefined): Promise<AdoptResult>;
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
