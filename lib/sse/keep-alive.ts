// One shared, unref'd ticker that sends keep-alive comments to every stream that has been silent too long.

/** A stream the ticker can ping. */
export interface Pingable {
  /** `Date.now()` of the last write. */
  lastWriteAt: number;
  /** Writes a keep-alive comment. */
  keepAlive(now: number): void;
}

/** Runs only while it has streams, so an idle router holds no timer. */
export class KeepAliveTicker {
  readonly #streams = new Set<Pingable>();
  #timer: NodeJS.Timeout | undefined;
  readonly #periodMs: number;

  /** `intervalMs` of silence triggers a ping; `0` disables the ticker. */
  constructor(private readonly intervalMs: number) {
    // Ticking four times per interval bounds the silence a stream sees to 1.25 × intervalMs.
    this.#periodMs = Math.max(1, Math.floor(intervalMs / 4));
  }

  add(stream: Pingable): void {
    if (this.intervalMs === 0) return;
    this.#streams.add(stream);
    if (this.#timer === undefined) {
      this.#timer = setInterval(() => this.#tick(), this.#periodMs);
      this.#timer.unref();
    }
  }

  delete(stream: Pingable): void {
    if (!this.#streams.delete(stream) || this.#streams.size > 0) return;
    this.stop();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #tick(): void {
    const now = Date.now();
    const due = now - this.intervalMs;
    for (const stream of this.#streams) if (stream.lastWriteAt <= due) stream.keepAlive(now);
  }
}
