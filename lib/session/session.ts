// McpSession: what a session is whatever its wire: identity, its MCP server, event ids and replay, lifecycle.
import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import { principalKey } from '../auth/principal.js';
import { ErrorCodes, McpSseError } from '../errors.js';
import { logSession } from '../log.js';
import type { DurableSession, SessionJournal } from '../bus.js';
import type { Counters } from '../stats.js';
import type { Telemetry } from '../telemetry/telemetry.js';
import type { KeepAliveTicker } from '../sse/keep-alive.js';
import { SseStream } from '../sse/stream.js';
import type { AuthInfo, JSONRPCMessage, MessageExtra, Principal, ServerLike, TransportLike } from '../types.js';
import { formatMessage } from '../sse/format.js';
import { formatEventId } from './event-id.js';
import { SessionReplay, type ReplayBudget } from './replay.js';
import { randomKey } from './random-key.js';

/** A JSON-RPC request id. */
export type RequestId = string | number;

/** Which wire a session speaks. */
export type TransportKind = 'sse' | 'streamable-http';

/** The registry's side of a session's life; the registry implements it. */
export interface SessionLifecycle {
  /** The session has nothing open nor in flight: it may be evicted to make room, and its expiry runs. */
  sessionIdle(session: McpSession): void;
  /** The session has an open stream or a request in flight again. */
  sessionActive(session: McpSession): void;
  /** The session is over: forget it. Called exactly once. */
  sessionEnded(session: McpSession): void;
}

/** What every session of one router shares: settings, counters, the keep-alive ticker and the registry. */
export interface SessionSettings {
  readonly streamHeaders: Readonly<Record<string, string>>;
  readonly retryMs: number;
  readonly resumeWindowMs: number;
  readonly sessionIdleMs: number;
  readonly replayBufferSize: number;
  readonly maxBufferedBytes: number;
  readonly ticker: KeepAliveTicker;
  /** What every session's replay buffers hold together (`maxReplayBytes`). */
  readonly replayBudget: ReplayBudget;
  readonly counters: Counters;
  readonly lifecycle: SessionLifecycle;
  report(error: McpSseError, sessionId: string): void;
  /** True while the router drains: no new requests; dropped streams with nothing in flight close their session. */
  readonly draining: boolean;
  /** OpenTelemetry spans and metrics; `undefined` when `@opentelemetry/api` is not installed. */
  readonly telemetry?: Telemetry | undefined;
  /** A durable bus's journal (`undefined` without one: the hot path then costs one check). */
  readonly journal: SessionJournal | undefined;
}

/**
 * `new`: no server connected yet. `started`: a server connected (`start()`). `closed-unstarted`: closed before a
 * server connected; one that connects later learns it at its first `close()`. `closed`: closed with a server
 * connected, not yet told. `told`: closed, and its server told (`onclose` ran).
 */
type SessionState = 'new' | 'started' | 'closed-unstarted' | 'closed' | 'told';

/** Identity of a new session. */
export interface SessionInit {
  sessionId: string;
  user: Principal | undefined;
  authInfo: AuthInfo | undefined;
  headers: IncomingHttpHeaders;
  /** The protocol version the client asked for, when the opening request said. */
  protocolVersion?: string | undefined;
  /**
   * A session adopted from another instance: its event-id key, the last sequence number it used there, and the
   * stored client messages that made it what it is (for the journal).
   */
  restore?:
    | { streamKey: string; lastSeq: number; nextStream: number; initialize?: JSONRPCMessage; stateRequests?: readonly JSONRPCMessage[] }
    | undefined;
}

/**
 * The part of a session both transports share. The SDK calls `start`, `send` and `close`; a transport subclass
 * decides which open stream a message goes to.
 */
export abstract class McpSession implements TransportLike {
  /** The wire this session speaks. */
  abstract readonly transport: TransportKind;
  readonly sessionId: string;
  /** The principal that opened the session (`undefined` when anonymous). */
  readonly user: Principal | undefined;
  readonly authInfo: AuthInfo | undefined;
  /** Headers of the request that opened the session. */
  readonly headers: IncomingHttpHeaders;
  /** The protocol version the opening request asked for, when it said (`initialize` on Streamable HTTP). */
  readonly protocolVersion: string | undefined;
  onmessage?: ((message: JSONRPCMessage, extra?: MessageExtra) => void) | undefined;
  onclose?: (() => void) | undefined;
  onerror?: ((error: Error) => void) | undefined;
  /** @internal */
  protected readonly settings: SessionSettings;
  /** What an adopted session was rebuilt from (`undefined` unless adopted). */
  readonly #restored: DurableSession['restored'];
  /** Random, unguessable prefix of this session's event ids; unrelated to the session id. */
  readonly #streamKey: string;
  #seq = 0;
  #replay: SessionReplay | undefined;
  /**
   * Requests handed to the server and not answered yet, with the stream their answer goes to; made for the first
   * one and dropped with the last, so that an idle session holds no map.
   */
  #inFlight: Map<RequestId, number> | undefined;
  /** Events of stream 0 up to this one left its replay buffer because the client got them: no resume starts before. */
  #acknowledgedSeq = 0;
  /**
   * The handshake until the client says it is initialized: the `initialize` request's id, then the stream and event
   * that answered it. `notifications/initialized` proves the client got that answer, so it leaves the replay buffers
   * (with every event before it on its stream): an idle session then holds none.
   */
  #handshake: { request: RequestId } | { stream: number; seq: number } | undefined;
  /** Who waits for this session to have nothing in flight (a drain). */
  #settledWaiters: (() => void)[] | undefined;
  #server: ServerLike | undefined;
  #state: SessionState = 'new';
  #expiry: NodeJS.Timeout | undefined;

  /** @internal */
  constructor(init: SessionInit, settings: SessionSettings) {
    this.sessionId = init.sessionId;
    this.user = init.user;
    this.authInfo = init.authInfo;
    this.headers = init.headers;
    this.protocolVersion = init.protocolVersion;
    this.settings = settings;
    if (init.restore !== undefined) this.#restored = { initialize: init.restore.initialize, stateRequests: init.restore.stateRequests ?? [] };
    this.#streamKey = init.restore?.streamKey ?? randomKey();
    this.#seq = init.restore?.lastSeq ?? 0;
    settings.telemetry?.sessionOpened(this);
  }

  /** True when this instance rebuilt the session from a durable bus after its owner was gone. */
  get adopted(): boolean {
    return this.#restored !== undefined;
  }

  /**
   * Key of the principal bound to this session: the authenticating strategy and the id (see `principalKey`), so
   * equal ids from different strategies never match. `undefined` for an anonymous session; `user.id` is the id.
   */
  get principalId(): string | undefined {
    return principalKey(this.user);
  }

  /** @internal Prefix of this session's event ids, used to find it again on resume. */
  get streamKey(): string {
    return this.#streamKey;
  }

  get isClosed(): boolean {
    return this.#state !== 'new' && this.#state !== 'started';
  }

  /**
   * True when a request by `principalId` may use this session: the principal that opened it, or anyone when the
   * session is anonymous or the route is not guarded (no principal: bound to the session id alone).
   */
  accepts(principalId: string | undefined): boolean {
    const owner = this.principalId;
    return owner === undefined || principalId === undefined || owner === principalId;
  }

  /** Called by the SDK's `connect()`; streams are attached by the router. */
  async start(): Promise<void> {
    if (this.#state !== 'new' && this.#state !== 'closed-unstarted') {
      throw new McpSseError(ErrorCodes.alreadyStarted, `${this.constructor.name} already started: connect() each transport to one server only.`);
    }
    this.#state = this.#state === 'new' ? 'started' : 'closed';
  }

  /** Sends a JSON-RPC message to the client. */
  abstract send(message: JSONRPCMessage, options?: unknown): Promise<void>;

  /** Sends a JSON-RPC notification. */
  async sendNotification(method: string, params?: Record<string, unknown>): Promise<void> {
    await this.send(params === undefined ? { jsonrpc: '2.0', method } : { jsonrpc: '2.0', method, params });
  }

  /** Sends `notifications/progress` for a request that carried `_meta.progressToken`. */
  async sendProgress(progressToken: string | number, progress: number, total?: number, message?: string): Promise<void> {
    const params: Record<string, unknown> = { progressToken, progress };
    if (total !== undefined) params.total = total;
    if (message !== undefined) params.message = message;
    await this.sendNotification('notifications/progress', params);
  }

  /**
   * Closes every stream and the session; `onclose` runs once. Safe to call more than once. When the session was
   * closed before a server connected (it ended while `createServer()` ran), `onclose` runs on the first call
   * after the server connected, so that server still learns it is closed.
   */
  async close(): Promise<void> {
    if (this.isClosed) {
      this.#notifyClosed();
      return;
    }
    this.#state = this.#state === 'new' ? 'closed-unstarted' : 'closed';
    this.cancelExpiry();
    this.closeStreams();
    this.#replay?.clear();
    this.#replay = undefined;
    this.#inFlight = undefined;
    this.#checkSettled();
    this.settings.lifecycle.sessionEnded(this);
    this.settings.telemetry?.sessionEnded(this);
    logSession('closed %s', this.sessionId);
    this.#notifyClosed();
  }

  // ---- used by the router, the registry and the transports, not by the SDK ----

  /** @internal Remembers the server so closing the session closes the server too. */
  bindServer(server: ServerLike): void {
    this.#server = server;
  }

  /** @internal Closes the MCP server (which closes this transport), or just this transport. */
  async closeSession(): Promise<void> {
    const server = this.#server;
    // A server not yet told of the close gets close(): also one that connected after the session was closed.
    if (server?.close !== undefined && this.#state !== 'told') {
      try {
        await server.close();
      } catch (error) {
        this.settings.report(new McpSseError(ErrorCodes.serverClose, 'The MCP server threw while closing.', { cause: error }), this.sessionId);
      }
    }
    await this.close();
  }

  /** @internal Sends one already serialised notification; broadcast uses it to serialise once for all. */
  abstract sendSerialized(json: string): void;

  /** @internal Ends every open stream with a `retry:` hint (the router drains); the session stays until closed. */
  abstract endStreams(retryMs: number): void;

  /** @internal Hands client messages to the MCP server. */
  receive(messages: JSONRPCMessage[], extra: MessageExtra): void {
    for (const message of messages) this.handOver(message, extra);
  }

  /** True while a request handed to the server has not been answered (nor cancelled). */
  get hasRequestsInFlight(): boolean {
    return this.#inFlight !== undefined;
  }

  /** @internal Resolves once nothing is in flight (or the session closed): a drain waits for it. */
  whenSettled(): Promise<void> {
    if (this.isClosed || this.isSettled()) return Promise.resolve();
    return new Promise((resolve) => {
      this.#settledWaiters ??= [];
      this.#settledWaiters.push(resolve);
    });
  }

  /**
   * @internal Hands one client message to the MCP server; a throwing server is reported, never thrown to the caller.
   * A request is in flight until its response is sent on `stream`; a cancelled one is no longer.
   */
  protected handOver(message: JSONRPCMessage, extra: MessageExtra, stream = 0): void {
    this.settings.counters.messagesIn++;
    this.settings.journal?.message(this.sessionId, message, stream);
    if (message.id !== undefined && message.method !== undefined) {
      this.#inFlight ??= new Map();
      this.#inFlight.set(message.id, stream);
      if (message.method === 'initialize') this.#handshake = { request: message.id };
    } else if (message.method === 'notifications/cancelled') {
      this.requestCancelled((message.params as { requestId?: unknown } | undefined)?.requestId);
    } else if (message.method === 'notifications/initialized' && this.#handshake !== undefined && 'seq' in this.#handshake) {
      this.#acknowledge(this.#handshake.stream, this.#handshake.seq);
      this.#handshake = undefined;
    }
    const { telemetry } = this.settings;
    try {
      // With OpenTelemetry, the server handles a request inside its span, so a tool's own spans nest under it.
      if (telemetry === undefined) this.onmessage?.(message, extra);
      else telemetry.handOver(this, message, extra, () => this.onmessage?.(message, extra));
    } catch (error) {
      const wrapped = new McpSseError(ErrorCodes.messageHandler, 'The MCP server threw while handling a message.', { cause: error });
      this.onerror?.(wrapped);
      this.settings.report(wrapped, this.sessionId);
    }
  }

  /** @internal Closes every open stream without telling anyone; the session is closing. */
  protected abstract closeStreams(): void;

  /** @internal A request is no longer in flight: its client cancelled it (the SDK sends no response then). */
  protected requestCancelled(requestId: unknown): void {
    if (typeof requestId === 'string' || typeof requestId === 'number') this.#settle(requestId);
  }

  /** @internal The stream the answer to `requestId` goes to, while it is in flight. */
  protected streamOf(requestId: RequestId): number | undefined {
    return this.#inFlight?.get(requestId);
  }

  /** @internal The response to `requestId` was sent (as the last event): it is no longer in flight. */
  protected answered(requestId: RequestId): void {
    const handshake = this.#handshake;
    if (handshake !== undefined && 'request' in handshake && handshake.request === requestId) {
      const stream = this.#inFlight?.get(requestId);
      this.#handshake = stream === undefined ? undefined : { stream, seq: this.#seq };
    }
    this.#settle(requestId);
  }

  /** @internal True when nothing waits for delivery; a transport may add its own conditions. */
  protected isSettled(): boolean {
    return this.#inFlight === undefined;
  }

  /** @internal Tells a waiting drain when the session has settled. */
  protected checkSettled(): void {
    this.#checkSettled();
  }

  /** @internal The sequence number of the last event written. */
  protected get lastSeq(): number {
    return this.#seq;
  }

  /** @internal */
  protected eventId(stream: number, seq: number): string {
    return formatEventId(this.#streamKey, stream, seq);
  }

  /**
   * @internal The one way an event is sent: the next sequence number, its id on `stream`, the frame kept for
   * resuming, then written to `target` (the open stream, if any: a stream that ended writes nothing).
   */
  protected emit(stream: number, target: SseStream | undefined, json: string): void {
    const seq = ++this.#seq;
    this.emitFrame(stream, target, seq, formatMessage(this.eventId(stream, seq), json));
    this.settings.counters.messagesOut++;
  }

  /** @internal Sends a frame already built for event `seq` (`nextSeq()`), as `emit` does. */
  protected emitFrame(stream: number, target: SseStream | undefined, seq: number, frame: string): void {
    const size = Buffer.byteLength(frame);
    this.settings.journal?.frame(this.sessionId, stream, seq, frame);
    if (this.#resumable) {
      this.#replay ??= new SessionReplay(this.settings, this.settings.replayBudget);
      this.#replay.remember(stream, seq, frame, size);
    }
    target?.write(frame, size);
  }

  /** @internal Takes the next sequence number, for a frame built by the transport (`emitFrame`). */
  protected nextSeq(): number {
    return ++this.#seq;
  }

  /** @internal The frames of `stream` after event `seq`, or `undefined` when some are no longer buffered. */
  protected framesSince(seq: number, stream: number): string[] | undefined {
    if (seq > this.#seq || (stream === 0 && seq < this.#acknowledgedSeq)) return undefined;
    if (this.#replay === undefined) return seq === this.#seq || this.#resumable ? [] : undefined;
    return this.#replay.since(stream, seq);
  }

  /** @internal The answer on `stream` reached its reader: its frames may go after `resumeWindowMs`. */
  protected retireStream(stream: number): void {
    if (this.#replay === undefined) return;
    const now = Date.now();
    this.#replay.retire(stream, now);
    this.#replay.sweep(now - this.settings.resumeWindowMs);
  }

  /** @internal Forgets the frames of a stream that can no longer be resumed. */
  protected freeStream(stream: number): void {
    if (this.#replay?.free(stream) === true) this.#replay = undefined;
  }

  /** @internal What a durable bus stores about this session to rebuild it elsewhere. */
  durableSession(): DurableSession {
    const { settings } = this;
    return {
      transport: this.transport,
      protocolVersion: this.protocolVersion,
      streamKey: this.#streamKey,
      endpoint: this.endpointData,
      ttlMs: this.transport === 'sse' ? settings.resumeWindowMs : settings.sessionIdleMs,
      maxBufferedBytes: settings.maxBufferedBytes,
      adopted: this.adopted,
      restored: this.#restored,
    };
  }

  /** @internal HTTP+SSE: the data of the `endpoint` event. */
  protected get endpointData(): string | undefined {
    return undefined;
  }

  /** @internal An adopted session takes back the frames its previous owner stored, for resumes. */
  restoreFrames(frames: readonly { stream: number; seq: number; frame: string }[]): void {
    if (!this.#resumable) return;
    this.#replay ??= new SessionReplay(this.settings, this.settings.replayBudget);
    for (const { stream, seq, frame } of frames) this.#replay.remember(stream, seq, frame, Buffer.byteLength(frame));
  }

  /** @internal The router-wide replay budget asks for bytes back; returns how many were freed. */
  trimReplay(bytes: number): number {
    return this.#replay?.trim(bytes) ?? 0;
  }

  /** @internal Starts an event stream on `res`: `headers` (the shared ones by default), no socket timeout, keep-alive. */
  protected openStream(
    res: ServerResponse,
    onEnded?: (stream: SseStream) => void,
    headers: Readonly<Record<string, string>> = this.settings.streamHeaders,
  ): SseStream {
    const { settings } = this;
    res.writeHead(200, headers);
    res.socket?.setNoDelay(true);
    res.setTimeout(0);
    const stream = new SseStream(res, this, onEnded);
    settings.ticker.add(stream);
    return stream;
  }

  /** @internal For the session's streams: the cap of each one's unsent backlog. */
  get maxBufferedBytes(): number {
    return this.settings.maxBufferedBytes;
  }

  /** @internal For the session's streams: counts the bytes they write. */
  countBytes(size: number): void {
    this.settings.counters.bytesOut += size;
  }

  /** @internal One of the session's streams is over (a transport adds what it means to it). */
  streamEnded(stream: SseStream, cut: McpSseError | undefined): void {
    this.settings.ticker.delete(stream);
    if (cut === undefined) return;
    this.settings.counters.slowConsumerCuts++;
    this.settings.report(cut, this.sessionId);
  }

  /** @internal Ends a stream now without hearing back from it (the caller already forgot it). */
  protected dropStream(stream: SseStream | undefined, lastFrame?: string): void {
    if (stream === undefined) return;
    this.settings.ticker.delete(stream);
    if (lastFrame === undefined) stream.close();
    else stream.end(lastFrame);
  }

  /** @internal The session now waits for its client: the registry may evict it, and it closes after `ms` (`0`: never). */
  protected becomeIdle(ms: number): void {
    this.settings.lifecycle.sessionIdle(this);
    clearTimeout(this.#expiry);
    this.#expiry = undefined;
    if (ms === 0) return;
    this.#expiry = setTimeout(() => void this.closeSession(), ms);
    this.#expiry.unref();
  }

  /** @internal The client is back (an open stream or a request in flight). */
  protected becomeActive(): void {
    this.cancelExpiry();
    this.settings.lifecycle.sessionActive(this);
  }

  /** @internal */
  protected assertOpen(): void {
    if (this.isClosed) {
      throw new McpSseError(ErrorCodes.closed, `Session ${this.sessionId} is closed: the client disconnected or the router closed it.`);
    }
  }

  /** @internal */
  protected cancelExpiry(): void {
    clearTimeout(this.#expiry);
    this.#expiry = undefined;
  }

  /** Frames are kept for resuming unless `resumeWindowMs` or `replayBufferSize` turned it off. */
  get #resumable(): boolean {
    return this.settings.resumeWindowMs > 0 && this.settings.replayBufferSize > 0;
  }

  /**
   * The client proved it got the events of `stream` up to `seq`: those leave the replay buffer, as no resume can need
   * them. On stream 0 (HTTP+SSE's one stream, whose events are all the session's) no resume may start before `seq`
   * any more; a request stream (Streamable HTTP's POST) ended with its answer, so all of it goes.
   */
  #acknowledge(stream: number, seq: number): void {
    if (stream !== 0) return this.freeStream(stream);
    if (seq <= this.#acknowledgedSeq || seq > this.#seq) return;
    this.#acknowledgedSeq = seq;
    if (this.#replay?.acknowledge(stream, seq) === true) this.#replay = undefined;
  }

  /** A request is no longer in flight (answered or cancelled). */
  #settle(requestId: RequestId): void {
    const inFlight = this.#inFlight;
    if (inFlight === undefined || !inFlight.delete(requestId)) return;
    if (inFlight.size === 0) this.#inFlight = undefined;
    this.#checkSettled();
  }

  #checkSettled(): void {
    const waiters = this.#settledWaiters;
    if (waiters === undefined || !(this.isClosed || this.isSettled())) return;
    this.#settledWaiters = undefined;
    for (const resolve of waiters) resolve();
  }

  #notifyClosed(): void {
    if (this.#state !== 'closed') return;
    this.#state = 'told';
    try {
      this.onclose?.();
    } catch (error) {
      this.settings.report(new McpSseError(ErrorCodes.messageHandler, 'The transport onclose handler threw.', { cause: error }), this.sessionId);
    }
  }
}
