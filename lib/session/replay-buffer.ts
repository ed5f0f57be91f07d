// The last frames a session sent, bounded by count and bytes, so a dropped stream can be resumed.

/**
 * A ring of frames with consecutive sequence numbers, each tagged with the stream it was written to (a session of
 * the Streamable HTTP transport has several). Frames leave from the oldest end when the count or the byte cap is
 * reached; `since(seq)` answers `undefined` when it no longer holds everything after `seq`.
 */
export class ReplayBuffer {
  #frames: string[] = [];
  #sizes: number[] = [];
  #streams: number[] = [];
  #head = 0;
  #bytes = 0;
  /** Sequence number of the oldest frame held. */
  #firstSeq = 1;

  constructor(
    private readonly maxEvents: number,
    private readonly maxBytes: number,
  ) {}

  get length(): number {
    return this.#frames.length - this.#head;
  }

  get bytes(): number {
    return this.#bytes;
  }

  /** Stores the frame of event `seq` (written to `stream`), which must follow the last stored one. */
  push(seq: number, frame: string, size: number, stream = 0): void {
    if (this.length === 0) this.#firstSeq = seq;
    this.#frames.push(frame);
    this.#sizes.push(size);
    this.#streams.push(stream);
    this.#bytes += size;
    while (this.length > this.maxEvents || (this.#bytes > this.maxBytes && this.length > 0)) this.#dropOldest();
    if (this.#head > 64 && this.#head * 2 > this.#frames.length) this.#compact();
  }

  /**
   * Frames after event `seq` (of `stream` only, when given), oldest first; `undefined` when some frame after `seq`
   * is gone (even of another stream: the buffer cannot tell then) or `seq` is in the future.
   */
  since(seq: number, lastSeq: number, stream?: number): string[] | undefined {
    if (seq > lastSeq || seq < 0) return undefined;
    if (seq === lastSeq) return [];
    if (this.length === 0 || seq + 1 < this.#firstSeq) return undefined;
    const from = this.#head + (seq + 1 - this.#firstSeq);
    if (stream === undefined) return this.#frames.slice(from);
    const frames: string[] = [];
    for (let i = from; i < this.#frames.length; i++) if (this.#streams[i] === stream) frames.push(this.#frames[i]!);
    return frames;
  }

  #dropOldest(): void {
    this.#bytes -= this.#sizes[this.#head]!;
    this.#frames[this.#head] = '';
    this.#head++;
    this.#firstSeq++;
  }

  #compact(): void {
    this.#frames = this.#frames.slice(this.#head);
    this.#sizes = this.#sizes.slice(this.#head);
    this.#streams = this.#streams.slice(this.#head);
    this.#head = 0;
  }
}
