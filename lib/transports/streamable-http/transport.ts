// StreamableHTTPTransport: a session of the Streamable HTTP transport; routes each server message to the right stream.
import type { ServerResponse } from 'node:http';
import { logSession } from '../../log.js';
import { McpSession, type RequestId, type SessionInit, type SessionSettings } from '../../session/session.js';
import type { EventPosition } from '../../session/event-id.js';
import { formatPriming, formatRetry } from '../../sse/format.js';
import type { SseStream } from '../../sse/stream.js';
import type { JSONRPCMessage, MessageExtra } from '../../types.js';
import { primesStreams } from './versions.js';

/** How a POST's responses travel: an event stream (resumable), or one JSON body once all are ready. */
interface ResponseStream {
  /** Stream number, part of its event ids; the standalone GET stream is `0`. */
  readonly id: number;
  /** Requests of the POST still waiting for their response. */
  readonly pending: Set<RequestId>;
  /** The client can resume this stream (it was primed): an answer it missed waits for it. */
  readonly resumable: boolean;
  /** The open response, while the client reads it. */
  sse: SseStream | undefined;
  /** `jsonResponse` mode: the responses so far, and who answers the POST once they are all in. */
  json?: { responses: JSONRPCMessage[]; settle: (responses: JSONRPCMessage[] | undefined) => void };
}

/** Options of the SDK's `send()`, structurally. */
interface SendOptions {
  relatedRequestId?: RequestId;
}

/**
 * What a resume came to: `ok`; `conflict` (that stream is open); `unknown` (an id this session never wrote);
 * `gone` (its events are no longer buffered).
 */
export type ResumeResult = 'ok' | 'conflict' | 'unknown' | 'gone';

/**
 * One Streamable HTTP session's transport. Each POST holding requests gets its own response stream, which carries
 * those requests' responses and everything the server relates to them, and ends once every response is sent;
 * everything else goes to the standalone `GET` stream. Every event has an id, so any stream can be resumed.
 */
export class StreamableHTTPTransport extends McpSession {
  #standalone: SseStream | undefined;
  /** POST streams with requests in flight or an open reader, by number. */
  readonly #streams = new Map<number, ResponseStream>();
  /**
   * Resumable streams whose answers were all sent while nobody read them: they wait for a resume. Made for the first
   * and dropped with the last (few sessions ever have one), as `#lost` is made: an idle session holds neither.
   */
  #undelivered: Set<number> | undefined;
  #nextStream: number;
  /** Adopted sessions: requests whose answer died with the previous owner, by stream; answered on resume. */
  #lost: Map<number, RequestId[]> | undefined;
  #busy = true;

  /** The wire this session speaks (a getter: nothing per session). */
  get transport(): 'streamable-http' {
    return 'streamable-http';
  }

  /** @internal Made by the router. */
  constructor(init: SessionInit, settings: SessionSettings) {
    super(init, settings);
    this.#nextStream = init.restore?.nextStream ?? 1;
  }

  /** @internal An adopted session learns which requests' answers died with the previous owner. */
  restoreLost(lost: ReadonlyMap<number, RequestId[]>): void {
    if (lost.size > 0) this.#lost = new Map([...lost].map(([stream, ids]) => [stream, [...ids]]));
  }

  /** True while the client reads the standalone `GET` stream. */
  get hasStandaloneStream(): boolean {
    return this.#standalone !== undefined;
  }

  /**
   * Sends a JSON-RPC message: a response, or a message the SDK relates to a request (`relatedRequestId`), on that
   * request's stream; anything else on the standalone stream. Messages for a stream nobody reads wait in the replay
   * buffer for a resume.
   */
  async send(message: JSONRPCMessage, options?: SendOptions): Promise<void> {
    this.assertOpen();
    this.settings.telemetry?.responded(this, message);
    const isResponse = message.method === undefined && message.id !== undefined;
    const requestId = isResponse ? message.id : options?.relatedRequestId;
    const streamId = requestId === undefined ? undefined : this.streamOf(requestId);
    const stream = streamId === undefined ? undefined : this.#streams.get(streamId);
    if (stream?.json !== undefined) {
      // One JSON body per POST: only the responses go in it, notifications about the request are dropped.
      if (isResponse) {
        stream.json.responses.push(message);
        this.#answered(stream, message.id!);
      }
      return;
    }
    if (isResponse && stream === undefined) {
      logSession('dropped a response to unknown request %s in %s', String(message.id), this.sessionId);
      return;
    }
    const target = stream === undefined ? this.#standalone : stream.sse;
    this.emit(stream?.id ?? 0, target, JSON.stringify(message));
    if (isResponse) this.#answered(stream!, message.id!);
    await target?.backPressure();
  }

  /** Ends the stream of a request now; a client at 2025-11-25 or later resumes it with `GET` + `Last-Event-ID`. */
  closeSSEStream(requestId: RequestId): void {
    const streamId = this.streamOf(requestId);
    if (streamId !== undefined) this.#streams.get(streamId)?.sse?.end();
  }

  /** Ends the standalone stream now; a client at 2025-11-25 or later resumes it with `GET` + `Last-Event-ID`. */
  closeStandaloneSSEStream(): void {
    this.#standalone?.end();
  }

  /** @internal Broadcasts go to the standalone stream. */
  sendSerialized(json: string): void {
    if (this.isClosed) return;
    this.emit(0, this.#standalone, json);
  }

  /**
   * @internal Answers a POST holding requests: opens its response stream on `res` (or, with `json`, collects the
   * responses for one body), then hands every message to the server.
   */
  post(
    res: ServerResponse,
    messages: JSONRPCMessage[],
    extra: MessageExtra,
    how: { protocolVersion: string; json?: (responses: JSONRPCMessage[] | undefined) => void },
  ): void {
    const polling = how.json === undefined && primesStreams(how.protocolVersion) && this.settings.resumeWindowMs > 0;
    const stream: ResponseStream = { id: this.#nextStream++, pending: new Set(), resumable: polling, sse: undefined };
    for (const message of messages) if (message.method !== undefined && message.id !== undefined) stream.pending.add(message.id);
    this.#streams.set(stream.id, stream);
    if (how.json !== undefined) {
      stream.json = { responses: [], settle: how.json };
    } else {
      stream.sse = this.#open(res, stream);
      if (polling) stream.sse.write(formatPriming(this.eventId(stream.id, this.lastSeq), this.settings.retryMs));
    }
    for (const message of messages) {
      const isRequest = message.method !== undefined && message.id !== undefined;
      this.handOver(message, polling && isRequest ? this.#withPolling(extra, message.id!) : extra, stream.id);
    }
    this.#refreshBusy();
  }

  /** @internal Opens the standalone stream; false when one is already open (409). */
  openStandalone(res: ServerResponse, protocolVersion: string): boolean {
    if (this.#standalone !== undefined) return false;
    const stream = this.#open(res, undefined);
    this.#standalone = stream;
    // Priming, as on POST streams, only when the client can resume from it.
    if (primesStreams(protocolVersion) && this.settings.resumeWindowMs > 0) {
      stream.write(formatPriming(this.eventId(0, this.lastSeq), this.settings.retryMs));
    } else {
      // Nothing to write yet: send the head now, or the client waits for the first event to learn its stream is open.
      res.flushHeaders();
    }
    this.#refreshBusy();
    return true;
  }

  /**
   * @internal Resumes the stream `at` points into: replays what the client missed, then goes on live while that
   * stream still has requests in flight (or, for the standalone stream, for good).
   */
  resume(res: ServerResponse, at: EventPosition): ResumeResult {
    const stream = this.#streams.get(at.stream);
    if (at.stream === 0 ? this.#standalone !== undefined : stream?.sse !== undefined) return 'conflict';
    if (at.stream >= this.#nextStream || at.seq > this.lastSeq || stream?.json !== undefined) return 'unknown';
    const missed = this.framesSince(at.seq, at.stream);
    if (missed === undefined) return 'gone';
    this.settings.counters.resumed++;
    const sse = this.#open(res, stream);
    sse.write(missed.join(''));
    if (at.stream === 0) this.#standalone = sse;
    else if (stream !== undefined) stream.sse = sse;
    else {
      // A request stream whose responses were all sent ends after the replay, as in the SDK: delivered now. One
      // whose answer died with another instance gets an error for it instead: the call fails once, nothing hangs.
      for (const id of this.#lost?.get(at.stream) ?? []) this.emit(at.stream, sse, JSON.stringify(requestLost(id)));
      this.#lost?.delete(at.stream);
      sse.end();
      this.#delivered(at.stream);
    }
    this.#refreshBusy();
    return 'ok';
  }

  /** @internal */
  endStreams(retryMs: number): void {
    const hint = formatRetry(retryMs);
    this.#standalone?.end(hint);
    for (const stream of this.#streams.values()) stream.sse?.end(hint);
  }

  /** @internal */
  protected closeStreams(): void {
    const standalone = this.#standalone;
    this.#standalone = undefined;
    this.dropStream(standalone);
    for (const stream of this.#streams.values()) {
      const sse = stream.sse;
      stream.sse = undefined;
      this.dropStream(sse);
      stream.json?.settle(undefined);
    }
    this.#streams.clear();
    this.#undelivered = undefined;
  }

  /**
   * @internal A cancelled request is no longer in flight, or its session would never go idle (nor expire). Its
   * stream is not ended: a 2025-11-25 client would take that for SSE polling and keep resuming a stream that has
   * nothing more.
   */
  protected override requestCancelled(requestId: unknown): void {
    const streamId = typeof requestId === 'string' || typeof requestId === 'number' ? this.streamOf(requestId) : undefined;
    const stream = streamId === undefined ? undefined : this.#streams.get(streamId);
    if (stream !== undefined) {
      stream.pending.delete(requestId as RequestId);
      if (stream.pending.size === 0) {
        if (stream.sse === undefined) this.#streams.delete(stream.id);
        // One JSON body per POST: answer with the responses there are, possibly none.
        stream.json?.settle(stream.json.responses);
      }
    }
    super.requestCancelled(requestId);
    this.#refreshBusy();
  }

  /** @internal Settled also means every resumable answer reached its reader. */
  protected override isSettled(): boolean {
    return super.isSettled() && this.#undelivered === undefined;
  }

  #open(res: ServerResponse, stream: ResponseStream | undefined): SseStream {
    // Built per stream rather than kept: an idle session holds no header object.
    const headers = { ...this.settings.streamHeaders, 'Mcp-Session-Id': this.sessionId };
    return this.openStream(res, (ended) => this.#streamEnded(ended, stream), headers);
  }

  /**
   * A response went out: once a POST has all of its responses, its stream ends (or its JSON body is sent). An answer
   * its reader got frees its frames after `resumeWindowMs`; one nobody read waits for a resume.
   */
  #answered(stream: ResponseStream, id: RequestId): void {
    stream.pending.delete(id);
    if (stream.pending.size === 0) {
      this.#streams.delete(stream.id);
      stream.json?.settle(stream.json.responses);
      if (stream.sse !== undefined) {
        stream.sse.end();
        this.retireStream(stream.id);
      } else if (stream.resumable) {
        this.#undelivered ??= new Set();
        this.#undelivered.add(stream.id);
      } else {
        this.freeStream(stream.id);
      }
    }
    this.answered(id);
    this.#refreshBusy();
  }

  /** A resumed stream replayed the rest of its answers. */
  #delivered(streamId: number): void {
    this.retireStream(streamId);
    const undelivered = this.#undelivered;
    if (undelivered === undefined || !undelivered.delete(streamId)) return;
    if (undelivered.size === 0) this.#undelivered = undefined;
    this.checkSettled();
  }

  #streamEnded(ended: SseStream, stream: ResponseStream | undefined): void {
    if (stream === undefined) {
      if (this.#standalone === ended) this.#standalone = undefined;
    } else if (stream.sse === ended) {
      stream.sse = undefined;
      // A stream left open after its requests were cancelled is done once its reader goes.
      if (stream.pending.size === 0) this.#streams.delete(stream.id);
    }
    this.#refreshBusy();
  }

  #withPolling(extra: MessageExtra, requestId: RequestId): MessageExtra {
    return {
      ...extra,
      closeSSEStream: () => this.closeSSEStream(requestId),
      closeStandaloneSSEStream: () => this.closeStandaloneSSEStream(),
    };
  }

  /** Idle means no open stream and no request in flight: the registry may evict it, and `sessionIdleMs` runs. */
  #refreshBusy(): void {
    if (this.isClosed) return;
    const busy = this.#standalone !== undefined || this.hasRequestsInFlight;
    if (busy === this.#busy) return;
    this.#busy = busy;
    if (busy) this.becomeActive();
    else this.becomeIdle(this.settings.sessionIdleMs);
  }
}

/** The answer to a request whose instance died before answering it. */
function requestLost(id: RequestId): JSONRPCMessage {
  return {
    jsonrpc: '2.0',
    id,
    error: { code: -32000, message: 'The request was lost with the instance serving it; send it again.', data: { reason: 'request_lost' } },
  };
}
