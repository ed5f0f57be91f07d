// SSETransport: a session of the HTTP+SSE transport (2024-11-05): one resumable stream carries every server message.
import type { ServerResponse } from 'node:http';
import { logSession } from '../../log.js';
import { McpSession, type SessionInit, type SessionSettings } from '../../session/session.js';
import { formatEvent, formatResumePoint, formatRetry, type EventData } from '../../sse/format.js';
import type { SseStream } from '../../sse/stream.js';
import { endpointOf } from './endpoint.js';
import type { McpSseError } from '../../errors.js';
import type { JSONRPCMessage } from '../../types.js';

/** A custom named event for `sendEvent()`. */
export interface CustomEvent {
  event: string;
  data: EventData;
  /** An id of your own; events without one get the session's resumable id. */
  id?: string;
}

/**
 * One HTTP+SSE session's transport. The router attaches the `GET` response that carries the stream, and
 * re-attaches a new one when the client resumes with `Last-Event-ID`; POSTed messages arrive through `receive`.
 */
export class SSETransport extends McpSession {
  /** The URL clients POST to is this prefix and the session's id (see `endpointOf`). */
  readonly #endpointPrefix: string;
  /** The stream a client is reading now, if any. */
  #stream: SseStream | undefined;

  /** @internal Made by the router. */
  constructor(init: SessionInit & { endpointPrefix: string }, settings: SessionSettings) {
    super(init, settings);
    this.#endpointPrefix = init.endpointPrefix;
  }

  /** The wire this session speaks (a getter: nothing per session). */
  get transport(): 'sse' {
    return 'sse';
  }

  /** @internal Data of the `endpoint` event: the URL clients POST to. */
  protected override get endpointData(): string {
    return endpointOf(this.#endpointPrefix, this.sessionId);
  }

  /** @internal An adopted session no client reads yet: it waits `resumeWindowMs` for a resume, or closes. */
  awaitResume(): void {
    if (this.#stream === undefined && !this.isClosed) this.becomeIdle(this.settings.resumeWindowMs);
  }

  /** True while a client is reading the stream. */
  get isAttached(): boolean {
    return this.#stream !== undefined;
  }

  /** Sends a JSON-RPC message. While the stream is detached, the message waits in the replay buffer. */
  async send(message: JSONRPCMessage): Promise<void> {
    this.assertOpen();
    this.settings.telemetry?.responded(this, message);
    this.emit(0, this.#stream, JSON.stringify(message));
    if (message.method === undefined && message.id !== undefined) this.answered(message.id);
    // Back-pressure: a producer that awaits its sends cannot outrun the client.
    await this.#stream?.backPressure();
  }

  /**
   * Sends a custom named event. String data goes as is (one `data:` line per line); anything else as JSON.
   * Throws a `TypeError` when `event` or `id` contains CR or LF, and writes nothing then.
   */
  async sendEvent(event: CustomEvent): Promise<void> {
    this.assertOpen();
    const seq = this.lastSeq + 1;
    const ownId = this.eventId(0, seq);
    let frame = formatEvent(event.event, event.data, event.id ?? ownId);
    // A custom id would become the client's Last-Event-ID, which no resume can find: an id-only event right after
    // it sets the client's last id back to the session's own, without dispatching anything.
    if (event.id !== undefined && event.id !== ownId) frame += formatResumePoint(ownId);
    this.emitFrame(0, this.#stream, this.nextSeq(), frame);
    await this.#stream?.backPressure();
  }

  /** Writes a keep-alive comment now; false when no stream is attached. */
  ping(): boolean {
    this.#stream?.keepAlive(Date.now());
    return this.#stream !== undefined;
  }

  /** @internal */
  sendSerialized(json: string): void {
    if (this.isClosed) return;
    this.emit(0, this.#stream, json);
  }

  /**
   * @internal Starts streaming to `res`: headers, `retry:`, the `endpoint` event, then the events after
   * `afterSeq` when resuming. Returns false (and writes nothing) when those events are no longer buffered.
   */
  attach(res: ServerResponse, afterSeq?: number): boolean {
    let missed: string[] = [];
    if (afterSeq !== undefined) {
      const frames = this.framesSince(afterSeq, 0);
      if (frames === undefined) return false;
      missed = frames;
      this.settings.counters.resumed++;
    }
    const stream = this.openStream(res);
    this.#stream = stream;
    // The head is written as a piece of its own, corked with the first frames into one packet: Node keeps the head
    // for the response's life, and one written by itself is flattened into one string, where a head joined to the
    // first frame stays the tree of ~20 pieces it was built from (~0.6 KB per idle stream).
    const socket = res.socket;
    socket?.cork();
    res.flushHeaders();
    // The endpoint event carries the id the client already has, so a drop right after it resumes at the same place.
    const endpoint = formatEvent('endpoint', this.endpointData, this.eventId(0, afterSeq ?? this.lastSeq));
    stream.write(formatRetry(this.settings.retryMs) + endpoint + missed.join(''));
    socket?.uncork();
    this.becomeActive();
    return true;
  }

  /** @internal The client went away or was cut: the session waits `resumeWindowMs` for a resume, or closes. */
  override streamEnded(stream: SseStream, cut: McpSseError | undefined): void {
    super.streamEnded(stream, cut);
    if (this.#stream !== stream) return;
    this.#stream = undefined;
    if (this.isClosed) return;
    // A drain waits for the requests in flight: their answers wait in the replay buffer for a resume.
    if (this.settings.resumeWindowMs === 0 || (this.settings.draining && !this.hasRequestsInFlight)) {
      void this.closeSession();
      return;
    }
    logSession('detached %s', this.sessionId);
    this.becomeIdle(this.settings.resumeWindowMs);
  }

  /** @internal Ends the stream with a `retry:` hint, leaving the session to close or be resumed. */
  endStreams(retryMs: number): void {
    this.#stream?.end(formatRetry(retryMs));
  }

  /** @internal */
  protected closeStreams(): void {
    const stream = this.#stream;
    this.#stream = undefined;
    this.dropStream(stream);
  }
}
