// SessionRegistry: the live sessions of one router, their caps, broadcast and stats. Knows nothing of HTTP.
import type { BusNode, Delivery, DeliveryResult, SessionBus } from '../bus.js';
import { ErrorCodes, McpSseError } from '../errors.js';
import { createCounters, type Counters, type SessionStats } from '../stats.js';
import type { SSETransport } from '../transports/http-sse/transport.js';
import type { MessageExtra, NotificationLike } from '../types.js';

/** Why a new session cannot be opened now. */
export type AdmitResult = 'ok' | 'sessions-full' | 'user-full';

/** Every session of one router: attached ones and detached ones waiting to be resumed. */
export class SessionRegistry implements Iterable<SSETransport> {
  readonly #sessions = new Map<string, SSETransport>();
  readonly #byStreamKey = new Map<string, SSETransport>();
  /** Detached sessions, oldest first (a Set keeps insertion order). */
  readonly #detached = new Set<SSETransport>();
  readonly #perUser = new Map<string, number>();
  readonly #bus: SessionBus;
  /** @internal */
  readonly counters: Counters = createCounters();
  #report: (error: Error, sessionId?: string) => void = () => {};

  /** @internal */
  constructor(
    bus: SessionBus,
    private readonly maxSessions: number,
    private readonly maxSessionsPerUser: number,
  ) {
    this.#bus = bus;
  }

  /** The session's transport, or `undefined` when this instance does not hold it. */
  get(sessionId: string): SSETransport | undefined {
    return this.#sessions.get(sessionId);
  }

  /** Live sessions on this instance, attached and detached. */
  get size(): number {
    return this.#sessions.size;
  }

  [Symbol.iterator](): IterableIterator<SSETransport> {
    return this.#sessions.values();
  }

  /**
   * Sends a notification to every session, serialised once. Without a filter it also reaches the sessions of
   * other instances through the bus; a filter (a function) applies to this instance's sessions only.
   * Returns how many sessions of this instance it was written to.
   */
  broadcast(notification: NotificationLike, filter?: (transport: SSETransport) => boolean): number {
    if (typeof notification?.method !== 'string') {
      throw new TypeError('broadcast() needs a notification like { method: "notifications/…", params? }.');
    }
    const message = notification.params === undefined
      ? { jsonrpc: '2.0', method: notification.method }
      : { jsonrpc: '2.0', method: notification.method, params: notification.params };
    const json = JSON.stringify(message);
    if (filter !== undefined) {
      let count = 0;
      for (const transport of this.#sessions.values()) {
        if (filter(transport)) {
          transport.sendSerialized(json);
          count++;
        }
      }
      return count;
    }
    this.#bus.publishBroadcast(json);
    return this.broadcastLocal(json);
  }

  /** Closes one session (and its MCP server). Resolves once it is closed; false when unknown. */
  async close(sessionId: string): Promise<boolean> {
    const transport = this.#sessions.get(sessionId);
    if (transport === undefined) return false;
    await transport.closeSession();
    return true;
  }

  /** Closes every session of this instance. */
  async closeAll(): Promise<void> {
    await Promise.all([...this.#sessions.values()].map((transport) => transport.closeSession()));
  }

  /** Counters since creation, and the sessions alive now. */
  stats(): SessionStats {
    return { active: this.#sessions.size - this.#detached.size, detached: this.#detached.size, ...this.counters };
  }

  // ---- used by the router and transports ----

  /** @internal Makes room for a new session of `principalId`, evicting the oldest detached competitor if needed. */
  admit(principalId: string | undefined): AdmitResult {
    if (principalId !== undefined && (this.#perUser.get(principalId) ?? 0) >= this.maxSessionsPerUser) {
      if (!this.#evictOldestDetached(principalId)) return 'user-full';
    }
    if (this.#sessions.size >= this.maxSessions && !this.#evictOldestDetached(undefined)) return 'sessions-full';
    return 'ok';
  }

  /** @internal */
  add(transport: SSETransport): void {
    this.#sessions.set(transport.sessionId, transport);
    this.#byStreamKey.set(transport.streamKey, transport);
    const principalId = transport.principalId;
    if (principalId !== undefined) this.#perUser.set(principalId, (this.#perUser.get(principalId) ?? 0) + 1);
    this.counters.opened++;
    this.#bus.sessionOpened({ sessionId: transport.sessionId, principalId });
  }

  /** @internal Forgets a session; called once by the transport when it closes. */
  remove(transport: SSETransport): void {
    if (this.#sessions.get(transport.sessionId) !== transport) return;
    this.#sessions.delete(transport.sessionId);
    this.#byStreamKey.delete(transport.streamKey);
    this.#detached.delete(transport);
    const principalId = transport.principalId;
    if (principalId !== undefined) {
      const count = (this.#perUser.get(principalId) ?? 1) - 1;
      if (count === 0) this.#perUser.delete(principalId);
      else this.#perUser.set(principalId, count);
    }
    this.counters.closed++;
    this.#bus.sessionClosed(transport.sessionId);
  }

  /** @internal */
  markDetached(transport: SSETransport): void {
    this.#detached.add(transport);
  }

  /** @internal */
  markAttached(transport: SSETransport): void {
    if (this.#detached.delete(transport)) this.counters.resumed++;
  }

  /** @internal Finds the session an event id belongs to. */
  byStreamKey(streamKey: string): SSETransport | undefined {
    return this.#byStreamKey.get(streamKey);
  }

  /** @internal Writes a serialised notification to every session of this instance. */
  broadcastLocal(json: string): number {
    let count = 0;
    for (const transport of this.#sessions.values()) {
      transport.sendSerialized(json);
      count++;
    }
    return count;
  }

  /** @internal The side of this registry a bus delivers into. */
  busNode(report: (error: Error, sessionId?: string) => void): BusNode {
    this.#report = report;
    return {
      deliver: (sessionId, delivery) => this.deliver(sessionId, delivery),
      broadcastLocal: (json) => this.broadcastLocal(json),
      reportError: (error) => this.#report(new McpSseError(ErrorCodes.bus, `Session bus: ${error.message}`, { cause: error })),
    };
  }

  /** @internal Hands messages to a local session after checking who sent them. */
  deliver(sessionId: string, delivery: Delivery): DeliveryResult {
    const transport = this.#sessions.get(sessionId);
    if (transport === undefined || transport.isClosed) return 'unknown';
    if (!mayPost(transport.principalId, delivery.principalId)) return 'forbidden';
    const extra: MessageExtra = {};
    if (delivery.authInfo !== undefined) extra.authInfo = delivery.authInfo;
    if (delivery.headers !== undefined) extra.requestInfo = { headers: delivery.headers };
    transport.receive(delivery.messages, extra);
    return 'accepted';
  }

  #evictOldestDetached(principalId: string | undefined): boolean {
    for (const transport of this.#detached) {
      if (principalId === undefined || transport.principalId === principalId) {
        // Removing it now frees the slot synchronously; the server closes in the background.
        this.remove(transport);
        void transport.closeSession();
        return true;
      }
    }
    return false;
  }
}

/**
 * A session opened by a principal accepts POSTs from that principal only. An anonymous session, or a POST on
 * an unguarded messages route (no principal), is bound to the session id alone.
 */
export function mayPost(owner: string | undefined, poster: string | undefined): boolean {
  return owner === undefined || poster === undefined || owner === poster;
}
