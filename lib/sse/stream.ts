// SseStream: one open event-stream response. Writes frames, applies back-pressure, and cuts a client that stops reading.
import type { ServerResponse } from 'node:http';
import { ErrorCodes, McpSseError } from '../errors.js';
import { BacklogWatch, writeThrough } from './backlog-watch.js';
import { formatComment } from './format.js';
import type { Pingable } from './keep-alive.js';

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
 * One event-stream response with an explicit state. Writes follow the slow-consumer rule (`BacklogWatch`): a client
 * that stops reading is cut, and producers waiting on back-pressure are released by the cut. The watch starts at the
 * first frame left unsent, so a stream that never had a backlog (most of them) carries none.
 */
export class SseStream implements Pingable {
  /** `Date.now()` of the last write, read by the keep-alive ticker. */
  lastWriteAt = 0;
  #state: StreamState = 'open';
  #backlog: BacklogWatch | undefined;
  /** Resolves when the socket drains; shared by every producer waiting on it. */
  #drained: Promise<void> | undefined;
  #releaseDrained: (() => void) | undefined;

  /** `onEnded`, when given, hears of the end right after the owner: what this one stream meant to its owner. */
  constructor(
    private readonly res: ServerResponse,
    private readonly owner: StreamOwner,
    private readonly onEnded?: (stream: SseStream) => void,
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
    this.owner.countBytes(size);
    this.lastWriteAt = Date.now();
    const flushed = writeThrough(this.res, frame);
    if (flushed && this.#backlog === undefined) return;
    this.#backlog ??= new BacklogWatch(this.res, this.owner.maxBufferedBytes, (backlog) => this.#cut(backlog));
    this.#backlog.wrote(flushed, size);
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
    this.onEnded?.(this);
  }

  #stop(): void {
    this.#state = this.res.destroyed ? 'closed' : 'ending';
    this.#backlog?.stop();
    this.#releaseDrained?.();
  }
}

function noop(): void {}
