// Registry: the live sessions of one router, their caps, broadcast and stats. Knows nothing of HTTP nor of the wires.
import type { BusNode, SessionBus } from '../bus.js';
import { ErrorCodes, McpSseError } from '../errors.js';
import { createCounters, type Counters, type SessionStats } from '../stats.js';
import type { NotificationLike } from '../types.js';
import type { McpSession } from './session.js';

/** Receivers of broadcasts that are not sessions: the listen streams of stateless (2026-07-28) clients. */
export interface BroadcastTarget {
  /** Writes a serialised notification; returns how many streams it reached. */
  broadcast(json: string): number;
  /** Streams open now. */
  readonly listening: number;
}

/** Why a new session cannot be opened now. */
export type AdmitResult = 'ok' | 'sessions-full' | 'user-full';

/**
 * Every session of one router: active ones and idle ones waiting for their client. `T` is the union of the
 * session kinds the transports define (`SessionRegistry` in `transports/` fixes it for the router).
 */
export class Registry<T extends McpSession> implements Iterable<T> {
  readonly #sessions = new Map<string, T>();
  readonly #byStreamKey = new Map<string, T>();
  /** Idle sessions (detached SSE, idle Streamable HTTP), oldest first (a Set keeps insertion order). */
  readonly #idle = new Set<McpSession>();
  readonly #perUser = new Map<string, number>();
  readonly #bus: SessionBus;
  /** @internal */
  readonly counters: Counters = createCounters();
  #report: (error: Error, sessionId?: string) => void = () => {};
  #stateless: BroadcastTarget | undefined;

  /** @internal */
  constructor(
    bus: SessionBus,
    private readonly maxSessions: number,
    private readonly maxSessionsPerUser: number,
  ) {
    this.#bus = bus;
  }

  /** The session's transport, or `undefined` when this instance does not hold it. */
  get(sessionId: string): T | undefined {
    return this.#sessions.get(sessionId);
  }

  /** Live sessions on this instance, active and idle, of both transports. */
  get size(): number {
    return this.#sessions.size;
  }

  [Symbol.iterator](): IterableIterator<T> {
    return this.#sessions.values();
  }

  /**
   * Sends a notification to every session, serialised once. Without a filter it also reaches the sessions of
   * other instances through the bus, and (for list-changed and resource-updated notifications) the
   * `subscriptions/listen` streams of stateless clients; a filter (a function) applies to this instance's sessions
   * only. Returns how many sessions and streams of this instance it was written to.
   */
  broadcast(notification: NotificationLike, filter?: (transport: T) => boolean): number {
    if (typeof notification?.method !== 'string') {
      throw new TypeError('broadcast() needs a notification like { method: "notifications/…", params? }.');
    }
    const message =
      notification.params === undefined
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
    this.#tellBus(() => this.#bus.publishBroadcast(json));
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

  /** Counters since creation, and the sessions alive now (in total and per transport). */
  stats(): SessionStats {
    const byTransport = { sse: { active: 0, detached: 0 }, 'streamable-http': { active: 0, detached: 0 } };
    for (const session of this.#sessions.values()) byTransport[session.transport].active++;
    for (const session of this.#idle) {
      byTransport[session.transport].active--;
      byTransport[session.transport].detached++;
    }
    return {
      active: this.#sessions.size - this.#idle.size,
      detached: this.#idle.size,
      byTransport,
      ...this.counters,
      listening: this.#stateless?.listening ?? 0,
    };
  }

  // ---- used by the router and transports ----

  /** @internal Makes room for a new session of `principalId`, evicting the oldest idle competitor if needed. */
  admit(principalId: string | undefined): AdmitResult {
    if (principalId !== undefined && (this.#perUser.get(principalId) ?? 0) >= this.maxSessionsPerUser) {
      if (!this.#evictOldestIdle(principalId)) return 'user-full';
    }
    if (this.#sessions.size >= this.maxSessions && !this.#evictOldestIdle(undefined)) return 'sessions-full';
    return 'ok';
  }

  /** @internal */
  add(transport: T): void {
    this.#sessions.set(transport.sessionId, transport);
    this.#byStreamKey.set(transport.streamKey, transport);
    const principalId = transport.principalId;
    if (principalId !== undefined) this.#perUser.set(principalId, (this.#perUser.get(principalId) ?? 0) + 1);
    this.counters.opened++;
    // A durable bus also learns what rebuilding the session elsewhere takes.
    const opened = { sessionId: transport.sessionId, principalId };
    this.#tellBus(() => this.#bus.sessionOpened(this.#bus.journal === undefined ? opened : { ...opened, durable: transport.durableSession() }));
  }

  /** @internal Forgets a session; called once by the session when it closes. */
  sessionEnded(session: McpSession): void {
    if (this.#sessions.get(session.sessionId) !== session) return;
    this.#sessions.delete(session.sessionId);
    this.#byStreamKey.delete(session.streamKey);
    this.#idle.delete(session);
    const principalId = session.principalId;
    if (principalId !== undefined) {
      const count = (this.#perUser.get(principalId) ?? 1) - 1;
      if (count === 0) this.#perUser.delete(principalId);
      else this.#perUser.set(principalId, count);
    }
    this.counters.closed++;
    this.#tellBus(() => this.#bus.sessionClosed(session.sessionId));
  }

  /** @internal */
  sessionIdle(session: McpSession): void {
    // Re-adding moves nothing: an idle session keeps its place in the eviction order.
    if (this.#sessions.get(session.sessionId) === session) this.#idle.add(session);
  }

  /** @internal */
  sessionActive(session: McpSession): void {
    this.#idle.delete(session);
  }

  /** @internal Finds the session an event id belongs to. */
  byStreamKey(streamKey: string): T | undefined {
    return this.#byStreamKey.get(streamKey);
  }

  /** @internal The replay buffers hold more than `maxReplayBytes`: the oldest idle sessions give bytes back first. */
  reclaimReplay(bytes: number): void {
    let freed = 0;
    for (const session of this.#idle) {
      if (freed >= bytes) return;
      freed += session.trimReplay(bytes - freed);
    }
    for (const session of this.#sessions.values()) {
      if (freed >= bytes) return;
      freed += session.trimReplay(bytes - freed);
    }
  }

  /** @internal Broadcasts also reach the listen streams of stateless clients. */
  addStatelessTarget(target: BroadcastTarget): void {
    this.#stateless = target;
  }

  /** @internal Writes a serialised notification to every session and listen stream of this instance. */
  broadcastLocal(json: string): number {
    let count = this.#stateless?.broadcast(json) ?? 0;
    for (const transport of this.#sessions.values()) {
      transport.sendSerialized(json);
      count++;
    }
    return count;
  }

  /** @internal The side of this registry a bus delivers into (the router adds `deliver` and `serve`). */
  busNode(report: (error: Error, sessionId?: string) => void): Omit<BusNode, 'deliver' | 'serve'> {
    this.#report = report;
    return {
      /** @internal */
      broadcastLocal: (json) => this.broadcastLocal(json),
      reportError: (error) => this.#report(new McpSseError(ErrorCodes.bus, `Session bus: ${error.message}`, { cause: error })),
    };
  }

  /** A bus (the app's own, perhaps) that throws never breaks a session's open, close or a broadcast: it is reported. */
  #tellBus(call: () => void): void {
    try {
      call();
    } catch (error) {
      this.#report(new McpSseError(ErrorCodes.bus, `Session bus: ${(error as Error)?.message ?? String(error)}`, { cause: error }));
    }
  }

  #evictOldestIdle(principalId: string | undefined): boolean {
    for (const session of this.#idle) {
      if (principalId === undefined || session.principalId === principalId) {
        // Forgetting it now frees the slot synchronously; the server closes in the background.
        this.sessionEnded(session);
        void session.closeSession();
        return true;
      }
    }
    return false;
  }
}
