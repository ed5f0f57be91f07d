// SseStream: one open event-stream response. Writes frames, applies back-pressure, and cuts a client that stops reading.
import type { ServerResponse } from 'node:http';
import { ErrorCodes, McpSseError } from '../errors.js';
import { formatComment } from './format.js';
import type { Pingable } from './keep-alive.js';

/** A backlog that does not shrink for this long means the client stopped reading. */
const stallMs = 2000;

/**
 * `open`: frames are written. `ending`: this side ended the response (`end()`), Node has not closed it yet.
 * `closed`: the response is over. Only an open stream is ever written to: frames for an ending or closed stream
 * go to the replay buffer only, so no write can follow the end of a response.
 */
export type StreamState = 'open' | 'ending' | 'closed';

/** What a stream needs from its owner. */
export interface StreamOwner {
  readonly maxBufferedBytes: number;
  /** Counts every byte written. */
  countBytes(size: number): void;
  /**
   * The stream is over: this side ended it (`end()`), the client went away, or it was cut as a slow consumer
   * (`cut` says why). Called once, as the stream stops being open, and not at all after `close()`.
   */
  streamEnded(stream: SseStream, cut: McpSseError | undefined): void;
}

/**
 * The slow-consumer rule: a stream with unsent bytes must keep draining. After `stallMs` without a byte leaving it
 * is cut; its backlog may also never pass maxBufferedBytes by more than one frame (so one message larger than the
 * cap still reaches a reading client), or it is cut at once. Memory per stream thus stays under maxBufferedBytes
 * plus the largest message, and producers waiting on back-pressure are released by the cut.
 */
export class SseStream implements Pingable {
  /** `Date.now()` of the last write, read by the keep-alive ticker. */
  lastWriteAt = 0;
  #state: StreamState = 'open';
  /** Bytes written, to tell how much of the backlog has left. */
  #written = 0;
  /** The largest frame written since the backlog was last empty. */
  #largestPending = 0;
  #checkScheduled = false;
  #stallTimer: NodeJS.Timeout | undefined;
  /** Resolves when the socket drains; shared by every producer waiting on it. */
  #drained: Promise<void> | undefined;
  #releaseDrained: (() => void) | undefined;

  constructor(
    private readonly res: ServerResponse,
    private readonly owner: StreamOwner,
  ) {
    res.on('close', () => {
      this.#finish(undefined);
      this.#state = 'closed';
    });
    // A socket error after the end would otherwise be an unhandled 'error' event: the 'close' that follows ends us.
    res.on('error', noop);
  }

  get state(): StreamState {
    return this.#state;
  }

  /** Writes a frame while the stream is open, else nothing; `size` is its byte length when the caller knows it. */
  write(frame: string, size = Buffer.byteLength(frame)): void {
    if (this.#state !== 'open') return;
    const res = this.res;
    this.owner.countBytes(size);
    this.lastWriteAt = Date.now();
    this.#written += size;
    const flushed = res.write(frame);
    (res as ServerResponse & { flush?: () => void }).flush?.();
    if (flushed) {
      // Below the socket's high-water mark the backlog is gone: forget the frames that made it up.
      this.#largestPending = size;
      return;
    }
    if (size > this.#largestPending) this.#largestPending = size;
    if (!this.#checkScheduled) {
      // Writes made in one tick are corked by Node's HTTP layer and only look unsent: judge them once Node has
      // tried to send them, or a client that reads fine would be cut for a burst.
      this.#checkScheduled = true;
      setImmediate(() => this.#checkBacklog());
    }
  }

  /** Writes a keep-alive comment; called by the shared ticker. */
  keepAlive(now: number): void {
    this.write(formatComment(`ping ${new Date(now).toISOString()}`));
  }

  /** While the socket is full, a promise that resolves once it drains or the stream ends; else `undefined`. */
  backPressure(): Promise<void> | undefined {
    if (this.#state !== 'open' || !this.res.writableNeedDrain) return undefined;
    this.#drained ??= new Promise<void>((resolve) => {
      const release = () => {
        this.res.off('drain', release);
        this.#drained = undefined;
        this.#releaseDrained = undefined;
        resolve();
      };
      this.#releaseDrained = release;
      this.res.on('drain', release);
    });
    return this.#drained;
  }

  /** Ends the response after `lastFrame`; the owner hears of it now, so nothing writes to it again. */
  end(lastFrame?: string): void {
    if (this.#state !== 'open') return;
    if (!this.res.writableEnded) this.res.end(lastFrame);
    this.#finish(undefined);
  }

  /** Ends the response and forgets it now: the owner is not told. */
  close(): void {
    if (this.#state !== 'open') return;
    this.#stop();
    if (!this.res.writableEnded) this.res.end();
  }

  #checkBacklog(): void {
    this.#checkScheduled = false;
    const res = this.res;
    if (this.#state !== 'open' || !res.writableNeedDrain) return;
    const backlog = res.writableLength;
    if (backlog > this.owner.maxBufferedBytes + this.#largestPending) return this.#cut(backlog);
    if (this.#stallTimer !== undefined) return;
    let sent = this.#written - backlog;
    this.#stallTimer = setInterval(() => {
      if (!res.writableNeedDrain) return this.#stopStallWatch();
      const nowSent = this.#written - res.writableLength;
      if (nowSent <= sent) return this.#cut(res.writableLength);
      sent = nowSent;
    }, stallMs);
    this.#stallTimer.unref();
  }

  #cut(backlog: number): void {
    const error = new McpSseError(
      ErrorCodes.slowConsumer,
      `Stream cut: the client stopped reading with ${backlog} bytes unsent (maxBufferedBytes is ${this.owner.maxBufferedBytes}). It may resume with Last-Event-ID.`,
    );
    this.res.destroy();
    // Finish now rather than on 'close' (a tick later), so later writes go to the replay buffer only.
    this.#finish(error);
  }

  #finish(cut: McpSseError | undefined): void {
    if (this.#state !== 'open') return;
    this.#stop();
    this.owner.streamEnded(this, cut);
  }

  #stop(): void {
    this.#state = this.res.destroyed ? 'closed' : 'ending';
    this.#stopStallWatch();
    this.#releaseDrained?.();
  }

  #stopStallWatch(): void {
    clearInterval(this.#stallTimer);
    this.#stallTimer = undefined;
  }
}

function noop(): void {}
