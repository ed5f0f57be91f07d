// SessionReplay: one session's replay buffers, one per stream, so a flood on one stream never evicts another's frames.
import { ReplayBuffer } from './replay-buffer.js';

/** What all replay buffers of one router hold together, and who gives bytes back when that passes its cap. */
export class ReplayBudget {
  #used = 0;
  #reclaiming = false;

  /** `reclaim(bytes)` must free about that many bytes (oldest idle sessions first) by calling `trim` on sessions. */
  constructor(
    readonly maxBytes: number,
    private readonly reclaim: (bytes: number) => void,
  ) {}

  get used(): number {
    return this.#used;
  }

  /** Records a change in bytes held; past the cap, asks for the excess back. */
  change(delta: number): void {
    this.#used += delta;
    if (this.#used <= this.maxBytes || this.#reclaiming) return;
    this.#reclaiming = true;
    try {
      this.reclaim(this.#used - this.maxBytes);
    } finally {
      this.#reclaiming = false;
    }
  }
}

/** Per stream bounds of a replay buffer. */
export interface ReplayLimits {
  readonly replayBufferSize: number;
  readonly maxBufferedBytes: number;
}

/**
 * The frames of each stream of one session. Each stream has its own count and byte bounds; a stream whose answer
 * was delivered is `retire`d and freed once `sweep` passes its time; the router-wide budget may `trim` any of them.
 */
export class SessionReplay {
  readonly #buffers = new Map<number, ReplayBuffer>();
  /** Streams whose answer was delivered, oldest first, with when. */
  readonly #retired: { stream: number; at: number }[] = [];

  constructor(
    private readonly limits: ReplayLimits,
    private readonly budget: ReplayBudget,
  ) {}

  /** Keeps the frame of event `seq`, written to `stream`. */
  remember(stream: number, seq: number, frame: string, size: number): void {
    let buffer = this.#buffers.get(stream);
    if (buffer === undefined) {
      buffer = new ReplayBuffer(this.limits.replayBufferSize, this.limits.maxBufferedBytes);
      this.#buffers.set(stream, buffer);
    }
    this.budget.change(buffer.push(seq, frame, size));
  }

  /** The frames of `stream` after event `seq`, or `undefined` when some are no longer held. */
  since(stream: number, seq: number): string[] | undefined {
    const buffer = this.#buffers.get(stream);
    return buffer === undefined ? [] : buffer.since(seq);
  }

  /** The answer on `stream` was delivered: its frames go once `sweep` is called with a time after `at`. */
  retire(stream: number, at: number): void {
    this.#retired.push({ stream, at });
  }

  /** Frees the streams retired at or before `before`. */
  sweep(before: number): void {
    while (this.#retired.length > 0 && this.#retired[0]!.at <= before) this.free(this.#retired.shift()!.stream);
  }

  /** Drops the oldest frames, oldest stream first, until at least `bytes` are freed; returns the bytes freed. */
  trim(bytes: number): number {
    let freed = 0;
    for (const buffer of this.#buffers.values()) {
      if (freed >= bytes) break;
      freed += buffer.trim(bytes - freed);
    }
    this.budget.change(-freed);
    return freed;
  }

  /**
   * The client got the events of `stream` up to `seq`: their frames go. True when no frame is left, so the session
   * may drop this object.
   */
  acknowledge(stream: number, seq: number): boolean {
    const buffer = this.#buffers.get(stream);
    if (buffer === undefined) return this.#buffers.size === 0;
    this.budget.change(-buffer.dropThrough(seq));
    return buffer.length === 0 ? this.free(stream) : false;
  }

  /** Forgets one stream's frames. True when no frame is left, so the session may drop this object. */
  free(stream: number): boolean {
    const buffer = this.#buffers.get(stream);
    if (buffer !== undefined) {
      this.#buffers.delete(stream);
      this.budget.change(-buffer.bytes);
    }
    return this.#buffers.size === 0;
  }

  /** Forgets every frame (the session closed). */
  clear(): void {
    for (const stream of [...this.#buffers.keys()]) this.free(stream);
    this.#retired.length = 0;
  }
}
