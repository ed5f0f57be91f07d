// The last frames of one event stream, bounded by count and bytes, so a dropped stream can be resumed.

interface Entry {
  seq: number;
  frame: string;
  size: number;
}

/**
 * The frames one stream was sent, oldest first, with their sequence numbers (numbered per session, so one stream's
 * numbers have gaps where other streams wrote). Frames leave from the oldest end when the count or byte cap is
 * reached, or when the router-wide budget asks (`trim`); `since(seq)` answers `undefined` once a frame after `seq`
 * has left, so a resume is refused rather than silently missing events.
 */
export class ReplayBuffer {
  #entries: Entry[] = [];
  #head = 0;
  #bytes = 0;
  /** The sequence number of the newest frame dropped: a resume from before it would miss frames. */
  #droppedUpTo = 0;

  constructor(
    private readonly maxEvents: number,
    private readonly maxBytes: number,
  ) {}

  get length(): number {
    return this.#entries.length - this.#head;
  }

  get bytes(): number {
    return this.#bytes;
  }

  /**
   * Stores the frame of event `seq`, which must be above every stored one; returns the change in bytes held
   * (the frame's size less what had to leave to make room).
   */
  push(seq: number, frame: string, size: number): number {
    this.#entries.push({ seq, frame, size });
    this.#bytes += size;
    let freed = 0;
    while (this.length > this.maxEvents || (this.#bytes > this.maxBytes && this.length > 0)) freed += this.#dropOldest();
    return size - freed;
  }

  /** Frames after event `seq`, oldest first; `undefined` when one of them is no longer held. */
  since(seq: number): string[] | undefined {
    if (seq < this.#droppedUpTo) return undefined;
    const entries = this.#entries;
    let from = entries.length;
    while (from > this.#head && entries[from - 1]!.seq > seq) from--;
    const frames: string[] = [];
    for (let i = from; i < entries.length; i++) frames.push(entries[i]!.frame);
    return frames;
  }

  /** Drops the oldest frames until at least `bytes` are freed (or none is left); returns the bytes freed. */
  trim(bytes: number): number {
    let freed = 0;
    while (freed < bytes && this.length > 0) freed += this.#dropOldest();
    return freed;
  }

  /** Drops the frames of events up to `seq`; returns the bytes freed. */
  dropThrough(seq: number): number {
    let freed = 0;
    while (this.length > 0 && this.#entries[this.#head]!.seq <= seq) freed += this.#dropOldest();
    return freed;
  }

  #dropOldest(): number {
    const entry = this.#entries[this.#head]!;
    this.#entries[this.#head] = undefined as unknown as Entry;
    this.#head++;
    this.#bytes -= entry.size;
    this.#droppedUpTo = entry.seq;
    if (this.#head > 64 && this.#head * 2 > this.#entries.length) {
      this.#entries = this.#entries.slice(this.#head);
      this.#head = 0;
    }
    return entry.size;
  }
}
