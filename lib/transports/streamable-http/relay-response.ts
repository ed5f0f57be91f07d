// RelayResponse: the stand-in for a ServerResponse when the client's HTTP response is held by another instance.
import type { ServerResponse } from 'node:http';
import { Writable } from 'node:stream';
import type { RelaySink } from '../../bus.js';

/**
 * What the transport and the error replies use of a `ServerResponse` (`writeHead`, `flushHeaders`, `write`, `end`,
 * `'close'`, back-pressure), forwarding every piece to a `RelaySink`: the bus carries it to the instance holding the
 * client. `destroy()` (the client left, or a slow-consumer cut) ends the relay.
 */
export class RelayResponse extends Writable {
  headersSent = false;
  readonly socket = null;
  readonly #sink: RelaySink;
  #ended = false;

  constructor(sink: RelaySink) {
    super({ decodeStrings: false, highWaterMark: 64 * 1024 });
    this.#sink = sink;
    // A write after the end (or after a cancel) is dropped, as on a real response: never an unhandled 'error'.
    this.on('error', noop);
  }

  /** The type the transport code expects; only the members above are ever used. */
  asServerResponse(): ServerResponse {
    return this as unknown as ServerResponse;
  }

  writeHead(status: number, headers: Record<string, string | number | readonly string[]> = {}): this {
    if (this.headersSent) return this;
    this.headersSent = true;
    const flat: Record<string, string> = {};
    for (const [name, value] of Object.entries(headers)) flat[name] = Array.isArray(value) ? value.join(', ') : String(value);
    this.#sink.head(status, flat);
    return this;
  }

  /** The head already went with `writeHead()`. */
  flushHeaders(): void {}

  setTimeout(): this {
    return this;
  }

  override _write(chunk: string | Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (!this.#ended) this.#sink.write(chunk.toString());
    callback();
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.#finish();
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#finish();
    callback(error);
  }

  #finish(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#sink.end();
  }
}

function noop(): void {}
