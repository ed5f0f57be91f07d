// SSETransport: one session's side of the SDK Transport interface, writing SSE frames to a (resumable) stream.
import { randomBytes } from 'node:crypto';
import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import { principalKey } from './auth/principal.js';
import { ErrorCodes, McpSseError } from './errors.js';
import { logSession } from './log.js';
import type { Counters } from './stats.js';
import { ReplayBuffer } from './sse/replay-buffer.js';
import { formatEvent, formatMessage, formatRetry, type EventData } from './sse/format.js';
import type { KeepAliveTicker } from './sse/keep-alive.js';
import { SseStream } from './sse/stream.js';
import type { AuthInfo, JSONRPCMessage, MessageExtra, Principal, ServerLike, TransportLike } from './types.js';

/** What every transport of one router shares: settings, counters and the hooks back to the registry. */
export interface TransportShared {
  readonly streamHeaders: Readonly<Record<string, string>>;
  readonly retryMs: number;
  readonly resumeWindowMs: number;
  readonly replayBufferSize: number;
  readonly maxBufferedBytes: number;
  readonly ticker: KeepAliveTicker;
  readonly counters: Counters;
  report(error: McpSseError, sessionId: string): void;
  /** The stream dropped and the session waits to be resumed. */
  detached(transport: SSETransport): void;
  /** The session resumed or first attached. */
  attached(transport: SSETransport): void;
  /** The session is over: forget it. Called exactly once. */
  ended(transport: SSETransport): void;
  /** True while the router drains: dropped streams close their session at once. */
  readonly draining: boolean;
}

/** Identity of a new session. */
export interface TransportInit {
  sessionId: string;
  user: Principal | undefined;
  authInfo: AuthInfo | undefined;
  headers: IncomingHttpHeaders;
  /** Data of the `endpoint` event: the URL clients POST to. */
  endpoint: string;
}

/** A custom named event for `sendEvent()`. */
export interface CustomEvent {
  event: string;
  data: EventData;
  /** An id of your own; events without one get the session's resumable id. */
  id?: string;
}

/**
 * One session's transport. The SDK calls `start`, `send` and `close`; the router attaches the HTTP response
 * that carries the stream, and re-attaches a new one when the client resumes with `Last-Event-ID`.
 */
export class SSETransport implements TransportLike {
  readonly sessionId: string;
  /** The principal that opened the session (`undefined` when anonymous). */
  readonly user: Principal | undefined;
  readonly authInfo: AuthInfo | undefined;
  /** Headers of the request that opened the stream. */
  readonly headers: IncomingHttpHeaders;
  onmessage?: ((message: JSONRPCMessage, extra?: MessageExtra) => void) | undefined;
  onclose?: (() => void) | undefined;
  onerror?: ((error: Error) => void) | undefined;
  readonly #shared: TransportShared;
  readonly #endpoint: string;
  /** Random, unguessable prefix of this session's event ids; unrelated to the session id. */
  readonly #streamKey: string;
  #seq = 0;
  #replay: ReplayBuffer | undefined;
  /** The stream a client is reading now, if any. */
  #stream: SseStream | undefined;
  #server: ServerLike | undefined;
  #started = false;
  #closed = false;
  /** True once `onclose` ran: the connected server has been told the transport closed. */
  #closeNotified = false;
  #expiry: NodeJS.Timeout | undefined;

  constructor(init: TransportInit, shared: TransportShared) {
    this.sessionId = init.sessionId;
    this.user = init.user;
    this.authInfo = init.authInfo;
    this.headers = init.headers;
    this.#endpoint = init.endpoint;
    this.#shared = shared;
    this.#streamKey = randomBytes(16).toString('base64url');
  }

  /**
   * Key of the principal bound to this session: the authenticating strategy and the id (see `principalKey`), so
   * equal ids from different strategies never match. `undefined` for an anonymous session; `user.id` is the id.
   */
  get principalId(): string | undefined {
    return principalKey(this.user);
  }

  /** Prefix of this session's event ids, used to find it again on resume. */
  get streamKey(): string {
    return this.#streamKey;
  }

  /** True while a client is reading the stream. */
  get isAttached(): boolean {
    return this.#stream !== undefined;
  }

  get isClosed(): boolean {
    return this.#closed;
  }

  /** Called by the SDK's `connect()`; the stream itself is attached by the router. */
  async start(): Promise<void> {
    if (this.#started) {
      throw new McpSseError(ErrorCodes.closed, 'SSETransport already started: connect() each transport to one server only.');
    }
    this.#started = true;
  }

  /** Sends a JSON-RPC message. While the stream is detached, the message waits in the replay buffer. */
  async send(message: JSONRPCMessage): Promise<void> {
    this.#assertOpen();
    this.sendSerialized(JSON.stringify(message));
    // Back-pressure: a producer that awaits its sends cannot outrun the client.
    await this.#stream?.backPressure();
  }

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
   * Sends a custom named event. String data goes as is (one `data:` line per line); anything else as JSON.
   * Throws a `TypeError` when `event` or `id` contains CR or LF, and writes nothing then.
   */
  async sendEvent(event: CustomEvent): Promise<void> {
    this.#assertOpen();
    const seq = this.#seq + 1;
    const frame = formatEvent(event.event, event.data, event.id ?? this.#eventId(seq));
    this.#seq = seq;
    this.#emit(seq, frame);
    await this.#stream?.backPressure();
  }

  /** Writes a keep-alive comment now; false when no stream is attached. */
  ping(): boolean {
    this.#stream?.keepAlive(Date.now());
    return this.#stream !== undefined;
  }

  /**
   * Closes the stream and the session; `onclose` runs once. Safe to call more than once. When the session was
   * closed before a server connected (it ended while `createServer()` ran), `onclose` runs on the first call
   * after the server connected, so that server still learns it is closed.
   */
  async close(): Promise<void> {
    if (this.#closed) {
      this.#notifyClosed();
      return;
    }
    this.#closed = true;
    clearTimeout(this.#expiry);
    this.#dropStream()?.close();
    this.#replay = undefined;
    this.#shared.ended(this);
    logSession('closed %s', this.sessionId);
    this.#notifyClosed();
  }

  #notifyClosed(): void {
    if (this.#closeNotified || !this.#started) return;
    this.#closeNotified = true;
    try {
      this.onclose?.();
    } catch (error) {
      this.#shared.report(new McpSseError(ErrorCodes.messageHandler, 'The transport onclose handler threw.', { cause: error }), this.sessionId);
    }
  }

  // ---- used by the router and registry, not by the SDK ----

  /** @internal Remembers the server so closing the session closes the server too. */
  bindServer(server: ServerLike): void {
    this.#server = server;
  }

  /** @internal Closes the MCP server (which closes this transport), or just this transport. */
  async closeSession(): Promise<void> {
    const server = this.#server;
    // A server not yet told of the close gets close(): also one that connected after the session was closed.
    if (server?.close !== undefined && !this.#closeNotified) {
      try {
        await server.close();
      } catch (error) {
        this.#shared.report(new McpSseError(ErrorCodes.closed, 'The MCP server threw while closing.', { cause: error }), this.sessionId);
      }
    }
    await this.close();
  }

  /** @internal Sends one already serialised JSON-RPC message; broadcast uses it to serialise once for all. */
  sendSerialized(json: string): void {
    if (this.#closed) return;
    const seq = ++this.#seq;
    this.#emit(seq, formatMessage(this.#eventId(seq), json));
    this.#shared.counters.messagesOut++;
  }

  /** @internal Hands client messages to the MCP server. */
  receive(messages: JSONRPCMessage[], extra: MessageExtra): void {
    this.#shared.counters.messagesIn += messages.length;
    for (const message of messages) {
      try {
        this.onmessage?.(message, extra);
      } catch (error) {
        const wrapped = new McpSseError(ErrorCodes.messageHandler, 'The MCP server threw while handling a message.', { cause: error });
        this.onerror?.(wrapped);
        this.#shared.report(wrapped, this.sessionId);
      }
    }
  }

  /**
   * @internal Starts streaming to `res`: headers, `retry:`, the `endpoint` event, then the events after
   * `afterSeq` when resuming. Returns false (and writes nothing) when those events are no longer buffered.
   */
  attach(res: ServerResponse, afterSeq?: number): boolean {
    let missed: string[] = [];
    if (afterSeq !== undefined) {
      const frames = this.#replay?.since(afterSeq, this.#seq) ?? (afterSeq === this.#seq ? [] : undefined);
      if (frames === undefined) return false;
      missed = frames;
    }
    clearTimeout(this.#expiry);
    this.#expiry = undefined;
    res.writeHead(200, this.#shared.streamHeaders);
    res.socket?.setNoDelay(true);
    res.setTimeout(0);
    const stream = new SseStream(res, {
      maxBufferedBytes: this.#shared.maxBufferedBytes,
      countBytes: (size) => (this.#shared.counters.bytesOut += size),
      streamEnded: (ended, cut) => this.#streamEnded(ended, cut),
    });
    this.#stream = stream;
    // The endpoint event carries the id the client already has, so a drop right after it resumes at the same place.
    const endpoint = formatEvent('endpoint', this.#endpoint, this.#eventId(afterSeq ?? this.#seq));
    stream.write(formatRetry(this.#shared.retryMs) + endpoint + missed.join(''));
    this.#shared.ticker.add(stream);
    this.#shared.attached(this);
    return true;
  }

  /** @internal Parses an event id of this package into stream key and sequence number. */
  static parseEventId(id: string): { streamKey: string; seq: number } | undefined {
    const dot = id.lastIndexOf('.');
    if (dot <= 0) return undefined;
    // Only ids as this package writes them: plain decimal digits (Number() would also take '', ' 5', '0x10', '1e3').
    const digits = id.slice(dot + 1);
    if (!/^(0|[1-9][0-9]*)$/.test(digits)) return undefined;
    const seq = Number(digits);
    if (!Number.isSafeInteger(seq)) return undefined;
    return { streamKey: id.slice(0, dot), seq };
  }

  /** @internal Ends the stream with a `retry:` hint, leaving the session to close or be resumed. */
  endStream(retryMs: number): void {
    this.#stream?.end(formatRetry(retryMs));
  }

  #eventId(seq: number): string {
    return this.#streamKey + '.' + seq;
  }

  #emit(seq: number, frame: string): void {
    const size = Buffer.byteLength(frame);
    if (this.#shared.resumeWindowMs > 0 && this.#shared.replayBufferSize > 0) {
      this.#replay ??= new ReplayBuffer(this.#shared.replayBufferSize, this.#shared.maxBufferedBytes);
      this.#replay.push(seq, frame, size);
    }
    this.#stream?.write(frame, size);
  }

  /** Forgets the current stream and stops its keep-alive; returns it. */
  #dropStream(): SseStream | undefined {
    const stream = this.#stream;
    if (stream === undefined) return undefined;
    this.#stream = undefined;
    this.#shared.ticker.delete(stream);
    return stream;
  }

  /** The client went away or was cut: the session waits `resumeWindowMs` for a resume, or closes. */
  #streamEnded(stream: SseStream, cut: McpSseError | undefined): void {
    if (this.#stream !== stream) return;
    this.#dropStream();
    if (cut !== undefined) {
      this.#shared.counters.slowConsumerCuts++;
      this.#shared.report(cut, this.sessionId);
    }
    if (this.#closed) return;
    if (this.#shared.resumeWindowMs === 0 || this.#shared.draining) {
      void this.closeSession();
      return;
    }
    logSession('detached %s', this.sessionId);
    this.#shared.detached(this);
    this.#expiry = setTimeout(() => void this.closeSession(), this.#shared.resumeWindowMs);
    this.#expiry.unref();
  }

  #assertOpen(): void {
    if (this.#closed) {
      throw new McpSseError(ErrorCodes.closed, `Session ${this.sessionId} is closed: the client disconnected or the router closed it.`);
    }
  }
}
