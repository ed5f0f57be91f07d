// The slow-consumer rule for one HTTP response: a client whose unsent backlog grows too large or stops shrinking is cut.
import type { ServerResponse } from 'node:http';

/** A backlog that does not shrink for this long means the client stopped reading. */
const stallMs = 2000;

/**
 * Writes chunks to a response and watches what is left unsent. After `stallMs` without a byte leaving, or once the
 * backlog passes `maxBufferedBytes` by more than one chunk (so one message larger than the cap still reaches a
 * reading client), `onCut(backlog)` runs once. Memory per response thus stays under `maxBufferedBytes` plus the
 * largest chunk. Event streams (`SseStream`) and the 2026 leg's piped answers share it.
 */
export class BacklogWatch {
  #written = 0;
  /** The largest chunk written since the backlog was last empty. */
  #largestPending = 0;
  #checkScheduled = false;
  #stallTimer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(
    private readonly res: ServerResponse,
    private readonly maxBufferedBytes: number,
    private readonly onCut: (backlog: number) => void,
  ) {}

  /** Writes `chunk` (of `size` bytes) and flushes it through `compression()` when present. */
  write(chunk: string | Uint8Array, size: number): void {
    this.wrote(writeThrough(this.res, chunk), size);
  }

  /**
   * Records a chunk of `size` bytes written to the response (`writeThrough`), `flushed` as its write returned. A
   * watch may start late, at the first chunk left unsent: until then there was no backlog to watch.
   */
  wrote(flushed: boolean, size: number): void {
    this.#written += size;
    if (flushed) {
      // Below the socket's high-water mark the backlog is gone: forget the chunks that made it up.
      this.#largestPending = size;
      return;
    }
    if (size > this.#largestPending) this.#largestPending = size;
    if (!this.#checkScheduled) {
      // Writes made in one tick are corked by Node's HTTP layer and only look unsent: judge them once Node has
      // tried to send them, or a client that reads fine would be cut for a burst.
      this.#checkScheduled = true;
      setImmediate(() => this.#check());
    }
  }

  /** Stops watching (the response is over). */
  stop(): void {
    this.#stopped = true;
    clearInterval(this.#stallTimer);
    this.#stallTimer = undefined;
  }

  #check(): void {
    this.#checkScheduled = false;
    const res = this.res;
    if (this.#stopped || res.destroyed || !res.writableNeedDrain) return;
    if (res.writableLength > this.maxBufferedBytes + this.#largestPending) return this.#cut();
    if (this.#stallTimer !== undefined) return;
    let sent = this.#written - res.writableLength;
    this.#stallTimer = setInterval(() => {
      if (!res.writableNeedDrain) {
        clearInterval(this.#stallTimer);
        this.#stallTimer = undefined;
        return;
      }
      const nowSent = this.#written - res.writableLength;
      if (nowSent <= sent) return this.#cut();
      sent = nowSent;
    }, stallMs);
    this.#stallTimer.unref();
  }

  #cut(): void {
    const backlog = this.res.writableLength;
    this.stop();
    this.onCut(backlog);
  }
}

/** Writes `chunk` to `res` and flushes it through `compression()` when present; false when it was left unsent. */
export function writeThrough(res: ServerResponse, chunk: string | Uint8Array): boolean {
  const flushed = res.write(chunk);
  (res as ServerResponse & { flush?: () => void }).flush?.();
  return flushed;
}
