// Whether the client of one request is still there, from the request's first await on, as an AbortSignal.
import type { ServerResponse } from 'node:http';

/**
 * Watches a response for its client leaving: `signal` aborts when the response closes before it finished (the
 * client went away, or the response was destroyed), including when that happened before this watch started, so
 * every later await (building the server, the SDK's `fetch`, piping) can be cancelled by it. `release()` removes
 * the watch once the request is over; it adds one `'close'` and one `'error'` listener, whatever happens after.
 */
export class ClientPresence {
  readonly #abort = new AbortController();
  readonly #res: ServerResponse;

  constructor(res: ServerResponse) {
    this.#res = res;
    // A response that errors (a reset socket) must not take the process down; 'close' follows and tells the rest.
    res.on('error', ignore);
    if (res.destroyed) this.#abort.abort();
    else res.once('close', this.#onClose);
  }

  /** Aborts when the client is gone. */
  get signal(): AbortSignal {
    return this.#abort.signal;
  }

  get gone(): boolean {
    return this.#abort.signal.aborted;
  }

  /** Treats the client as gone now (the router cut it, e.g. as a slow consumer). */
  leave(): void {
    this.#abort.abort();
  }

  /** The request is over: stop watching. */
  release(): void {
    this.#res.off('close', this.#onClose);
  }

  readonly #onClose = (): void => {
    if (!this.#res.writableFinished) this.#abort.abort();
  };
}

function ignore(): void {}
