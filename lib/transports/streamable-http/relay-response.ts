// RelayResponse: the stand-in for a ServerResponse when the client's HTTP response is held by another instance.
import { EventEmitter } from 'node:events';
import type { ServerResponse } from 'node:http';
import type { RelaySink } from '../../bus.js';

/**
 * What the transport and the error replies use of a `ServerResponse` (`writeHead` or `statusCode`, `flushHeaders`,
 * `write`, `end`, `'close'`, back-pressure), forwarding every piece to a `RelaySink`: the bus carries it to the
 * instance holding the client, where the real response applies back-pressure. `destroy()` (the client left, or a slow-consumer cut)
 * ends the relay. A plain emitter rather than a `Writable`: every piece goes straight to the sink, with none of a
 * stream's buffering, ticks and events on the hot path of every relayed request.
 */
export class RelayResponse extends EventEmitter {
  /** The status of the head `write()` or `end()` sends when no `writeHead()` came first, as on a real response. */
  statusCode = 200;
  headersSent = false;
  destroyed = false;
  writableEnded = false;
  writableFinished = false;
  /** Nothing waits here: each piece went to the sink when written. */
  readonly writableLength = 0;
  readonly writableNeedDrain = false;
  readonly socket = null;
  readonly #sink: RelaySink;

  constructor(sink: RelaySink) {
    super();
    this.#sink = sink;
  }

  /** The type the transport code expects; only the members above are ever used. */
  asServerResponse(): ServerResponse {
    return this as unknown as ServerResponse;
  }

  writeHead(status: number, headers: Record<string, string | number | readonly string[]> = {}): this {
    if (this.headersSent) return this;
    this.headersSent = true;
    this.statusCode = status;
    this.#sink.head(status, flatten(headers));
    return this;
  }

  /** The head already went with `writeHead()`. */
  flushHeaders(): void {}

  setTimeout(): this {
    return this;
  }

  /** A write after the end (or after a cancel) is dropped, as on a real response: never an `'error'`. */
  write(chunk: string | Uint8Array): boolean {
    if (this.writableEnded || this.destroyed) return false;
    if (!this.headersSent) this.writeHead(this.statusCode);
    this.#sink.write(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString());
    return true;
  }

  end(chunk?: string | Uint8Array): this {
    if (this.writableEnded || this.destroyed) return this;
    // An end before any head sends Node's implicit one: the status set on the response, and the body's length.
    if (!this.headersSent) this.writeHead(this.statusCode, { 'Content-Length': chunk === undefined ? 0 : Buffer.byteLength(chunk) });
    this.writableEnded = true;
    this.#sink.end(chunk === undefined ? undefined : typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString());
    this.writableFinished = true;
    this.#closeSoon();
    return this;
  }

  /** The client left, or a slow consumer was cut: the relay ends (its front instance hears of it). */
  destroy(): this {
    if (this.destroyed) return this;
    this.destroyed = true;
    if (!this.writableEnded) {
      this.writableEnded = true;
      this.#sink.end();
    }
    this.#closeSoon();
    return this;
  }

  /** `'close'` comes a tick after the end, as on a real response, so listeners added meanwhile still hear it. */
  #closeSoon(): void {
    process.nextTick(emitClose, this);
  }
}

/**
 * The headers with string values only. The streams of a session share one frozen header object: its flat copy is
 * made once, and frozen too, so the bus can reuse what it makes of it (its JSON) as well.
 */
function flatten(headers: Record<string, string | number | readonly string[]>): Record<string, string> {
  const frozen = Object.isFrozen(headers);
  const cached = frozen ? flattened.get(headers) : undefined;
  if (cached !== undefined) return cached;
  const flat: Record<string, string> = {};
  for (const name in headers) {
    const value = headers[name]!;
    flat[name] = typeof value === 'string' ? value : Array.isArray(value) ? value.join(', ') : String(value);
  }
  if (frozen) flattened.set(headers, Object.freeze(flat));
  return flat;
}

const flattened = new WeakMap<object, Record<string, string>>();

function emitClose(res: RelayResponse): void {
  res.emit('close');
}
