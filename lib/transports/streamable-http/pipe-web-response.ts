// Copies the SDK's Web Response to Node's response: cancelled when the client leaves, a client that stops reading cut.
import type { ServerResponse } from 'node:http';
import type { ClientPresence } from './client-presence.js';

/** A backlog that does not shrink for this long means the client stopped reading (as on session streams). */
const stallMs = 2000;

export interface PipeLimits {
  /** Bytes a stream's unsent backlog may hold beyond its largest chunk before the client is cut. */
  maxBufferedBytes: number;
  /** The client was cut as a slow consumer with `backlog` bytes unsent. */
  onCut(backlog: number): void;
}

/**
 * Writes `response` to `res` and resolves once `res` finished or the client left; never rejects, never waits on
 * an event that cannot come. The SDK's streams ignore back-pressure (their producers enqueue without waiting), so
 * pausing our reads would only move the backlog into the SDK, out of sight and unbounded: the reads go on, and the
 * backlog in `res` obeys the sessions' slow-consumer rule instead (never past `maxBufferedBytes` plus the largest
 * chunk, and it must keep shrinking). A cut destroys `res`; the client's leaving cancels the reader, which ends the
 * SDK's stream (a tool call's transport, or a listen subscription).
 */
export async function pipeWebResponse(response: Response, res: ServerResponse, presence: ClientPresence, limits: PipeLimits): Promise<void> {
  if (presence.gone) {
    await response.body?.cancel().catch(ignore);
    return;
  }
  if ((response.headers.get('content-type') ?? '').startsWith('text/event-stream')) {
    res.setTimeout(0);
    res.socket?.setNoDelay(true);
  }
  res.writeHead(response.status, Object.fromEntries(response.headers));
  if (response.body === null) {
    res.end();
    return settled(res);
  }
  const reader = response.body.getReader();
  const cancel = (): void => void reader.cancel().catch(ignore);
  presence.signal.addEventListener('abort', cancel, { once: true });
  const backlog = new BacklogWatch(res, limits, () => {
    presence.leave();
    res.destroy();
  });
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done || presence.gone) break;
      backlog.write(value);
    }
    if (!presence.gone) res.end();
  } catch {
    // The SDK's stream errored: the client cannot get a complete answer, so it must not think it got one.
    presence.leave();
    res.destroy();
  } finally {
    presence.signal.removeEventListener('abort', cancel);
  }
  // The backlog rule holds until the last byte left: a client that stops reading the end is cut too.
  await settled(res);
  backlog.stop();
}

/** The slow-consumer rule of `SseStream`, for raw chunks. */
class BacklogWatch {
  #written = 0;
  /** The largest chunk written since the backlog was last empty. */
  #largestPending = 0;
  #checkScheduled = false;
  #stallTimer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(
    private readonly res: ServerResponse,
    private readonly limits: PipeLimits,
    private readonly cut: () => void,
  ) {}

  write(chunk: Uint8Array): void {
    const res = this.res;
    this.#written += chunk.byteLength;
    const flushed = res.write(chunk);
    (res as ServerResponse & { flush?: () => void }).flush?.();
    if (flushed) {
      this.#largestPending = chunk.byteLength;
      return;
    }
    if (chunk.byteLength > this.#largestPending) this.#largestPending = chunk.byteLength;
    if (!this.#checkScheduled) {
      // Writes of one tick are corked and only look unsent: judge them once Node has tried to send them.
      this.#checkScheduled = true;
      setImmediate(() => this.#check());
    }
  }

  stop(): void {
    this.#stopped = true;
    clearInterval(this.#stallTimer);
    this.#stallTimer = undefined;
  }

  #check(): void {
    this.#checkScheduled = false;
    const res = this.res;
    if (this.#stopped || res.destroyed || !res.writableNeedDrain) return;
    if (res.writableLength > this.limits.maxBufferedBytes + this.#largestPending) return this.#cut();
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
    this.limits.onCut(backlog);
    this.cut();
  }
}

/** Resolves once `res` finished sending or closed (already included); leaves no listener behind. */
function settled(res: ServerResponse): Promise<void> {
  if (res.writableFinished || res.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('finish', done);
      res.off('close', done);
      resolve();
    };
    res.on('finish', done);
    res.on('close', done);
  });
}

function ignore(): void {}
