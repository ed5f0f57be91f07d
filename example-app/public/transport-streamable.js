// The Streamable HTTP transport (MCP 2025-11-25) for the console, on fetch alone: EventSource cannot send the
// Mcp-Session-Id header.
//
// Wire flow: POST `initialize` to the endpoint; the response carries the Mcp-Session-Id header and an event stream
// with the result. Every later request sends that header and MCP-Protocol-Version. A POST holding a request is
// answered by its own event stream carrying the response and what the server sends about it (progress), ending
// after the response; notifications get 202. Once initialized, a GET opens the standalone stream for everything
// else (broadcasts, list changes, logging). Every event has an id, and each stream starts with a "priming" event
// (an id, empty data and a `retry:` delay): when a stream is cut before it is done, the transport waits that delay
// and GETs with Last-Event-ID; the server replays what was missed, same session. A 404 means the session is gone:
// start over with `initialize`. DELETE ends the session (on Disconnect, and with a keepalive fetch on page unload).

import { explainRefusal, refusalOf } from './rpc-error.js';
import { readSse } from './sse-reader.js';

/** @typedef {import('./transport.js').TransportHooks} TransportHooks */

/** Used until the server sends a `retry:` hint. */
const DEFAULT_RETRY_MS = 1000;

/**
 * One event stream the transport follows: a POST's response stream, or the standalone GET stream.
 * @typedef {object} Stream
 * @property {string} name   for the log: "tools/call stream", "standalone stream"
 * @property {Set<string | number> | undefined} awaiting   POST streams: requests whose response has not arrived yet
 * @property {string | undefined} lastEventId   where a resume starts
 */

export class StreamableTransport {
  kind = 'streamable';
  protocolVersion = '2025-11-25';
  endpoint;
  /** @type {TransportHooks} */
  #hooks;
  #apiKey;
  /** @type {string | null} */
  #sessionId = null;
  /** @type {string | null} The version `initialize` settled on, sent as MCP-Protocol-Version from then on. */
  #negotiated = null;
  /** @type {string | number | undefined} */
  #initializeId;
  #retryMs = DEFAULT_RETRY_MS;
  /** Aborts every request and stream of the current session (on close, or when the session is lost). */
  #abort = new AbortController();
  /** @type {Set<Stream>} Streams being resumed; "resumed" is reported once none is left. */
  #resuming = new Set();
  #closed = false;

  /** @param {{ path: string, apiKey: string, hooks: TransportHooks }} options */
  constructor({ path, apiKey, hooks }) {
    this.endpoint = new URL(path, location.href);
    this.#apiKey = apiKey;
    this.#hooks = hooks;
  }

  /** Nothing to open yet: the session starts with the `initialize` POST the console sends next. */
  connect() {
    this.#hooks.log('stream', `Streamable HTTP at ${this.endpoint.pathname}${this.#apiKey ? ' with an API key' : ''}`);
    queueMicrotask(() => this.#closed || this.#hooks.onSession({ replaced: false }));
  }

  /** POSTs one message; resolves once the server accepted it. Replies are read from the response in the background. */
  async send(message) {
    if (this.#closed) throw new Error('Not connected.');
    if (message.method === 'initialize') this.#initializeId = message.id;
    const sessionId = this.#sessionId;
    const signal = this.#abort.signal;
    let response;
    try {
      response = await fetch(this.endpoint, {
        method: 'POST',
        headers: this.#headers({ 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' }),
        body: JSON.stringify(message),
        signal,
      });
    } catch (error) {
      throw new Error(signal.aborted ? 'The connection was closed.' : `The server is unreachable (${error.message}).`);
    }
    if (!response.ok) {
      const error = await refusalOf(response);
      this.#refused(error, sessionId);
      throw error;
    }
    if (message.method === 'initialize') this.#opened(response.headers.get('Mcp-Session-Id'));
    if (message.method === 'notifications/initialized') void this.#follow(this.#standaloneStream(), undefined, signal);
    if (response.status === 202) return;

    const type = response.headers.get('Content-Type') ?? '';
    if (type.startsWith('text/event-stream')) {
      const awaiting = new Set(requestIds(message));
      void this.#follow({ name: `${message.method ?? 'batch'} stream`, awaiting, lastEventId: undefined }, response, signal);
    } else if (type.startsWith('application/json')) {
      // A server with `jsonResponse: true`: the responses in one body, no stream.
      const body = await response.json().catch(() => null);
      for (const item of Array.isArray(body) ? body : [body]) if (item !== null) this.#deliver(item, undefined);
    }
  }

  /** Ends the session on the server (DELETE) and stops. The keepalive fetch outlives the page on unload. */
  close() {
    if (this.#closed) return '';
    this.#closed = true;
    this.#abort.abort();
    const sessionId = this.#sessionId;
    if (sessionId === null) return 'No session was open.';
    void fetch(this.endpoint, { method: 'DELETE', headers: this.#headers({}), keepalive: true }).catch(() => {});
    return `Session ${sessionId} ended (DELETE).`;
  }

  #headers(extra) {
    const headers = { ...extra };
    if (this.#apiKey) headers['X-API-Key'] = this.#apiKey;
    if (this.#sessionId !== null) headers['Mcp-Session-Id'] = this.#sessionId;
    if (this.#negotiated !== null) headers['MCP-Protocol-Version'] = this.#negotiated;
    return headers;
  }

  #opened(sessionId) {
    if (sessionId === null) {
      this.#hooks.log('notice', 'The server answered initialize without an Mcp-Session-Id: a stateless server.', { dir: 'in' });
      return;
    }
    this.#sessionId = sessionId;
    this.#hooks.onSessionId(sessionId);
    this.#hooks.log('stream', `Session ${sessionId} opened`, { dir: 'in' });
  }

  #standaloneStream() {
    return { name: 'standalone stream', awaiting: undefined, lastEventId: undefined };
  }

  /** A refusal: 404 on our session means it is gone (start over); 401/403 stop the transport; the rest is the request's. */
  #refused(error, sessionId) {
    if (this.#closed) return;
    if (error.status === 404 && sessionId !== null) this.#sessionLost(sessionId);
    else if (error.status === 401 || error.status === 403) this.#fail(explainRefusal(error, this.#apiKey !== ''), error.status);
  }

  #fail(message, status) {
    this.#closed = true;
    this.#abort.abort();
    this.#hooks.onFail(message, { status });
  }

  /** The server no longer knows the session (expired, deleted, restarted): drop everything of it and start over. */
  #sessionLost(sessionId) {
    if (sessionId !== this.#sessionId) return; // already handled, by another request of the same session
    this.#sessionId = null;
    this.#negotiated = null;
    this.#abort.abort();
    this.#abort = new AbortController();
    this.#resuming.clear();
    this.#hooks.onSessionId(null);
    this.#hooks.log('notice', `Session ${sessionId} is gone on the server (404): initializing a new session`, { dir: 'in' });
    this.#hooks.onSession({ replaced: true, reason: 'The server lost the session; the call was lost.' });
  }

  /**
   * Reads `stream` until it is done: a POST stream once every response arrived, the standalone stream never. When
   * the connection breaks (or the server ends the stream early), resumes it with GET + Last-Event-ID.
   * @param {Stream} stream
   * @param {Response | undefined} response   the POST's response; without one, the stream is opened with a GET
   * @param {AbortSignal} signal
   */
  async #follow(stream, response, signal) {
    let wait = false;
    for (;;) {
      if (response === undefined) {
        response = await this.#get(stream, signal, wait);
        if (response === undefined) return;
      }
      let broken = false;
      try {
        await readSse(/** @type {ReadableStream<Uint8Array>} */ (response.body), {
          onEvent: (event) => event.type === 'message' && this.#onData(stream, event.data, event.id),
          onId: (id) => (stream.lastEventId = id),
          onRetry: (ms) => (this.#retryMs = ms),
        });
      } catch {
        broken = true;
      }
      response = undefined;
      if (signal.aborted) return;
      if (stream.awaiting !== undefined && stream.awaiting.size === 0) return; // every response arrived: done
      if (stream.lastEventId === undefined) {
        // No id to resume from (a server without priming events): what this stream still owed is lost.
        this.#hooks.log('error', `The ${stream.name} ${broken ? 'broke' : 'ended'} before any event id; it cannot be resumed.`);
        this.#lose(stream, new Error('The response stream ended before the reply.'));
        if (stream.awaiting !== undefined) return;
      } else {
        this.#dropped(stream, broken);
      }
      wait = true;
    }
  }

  /**
   * GETs the stream (resuming from its last event id, if any) after waiting the `retry:` delay when `wait` is set.
   * Network failures and 409/429/5xx are retried; refusals are reported. Resolves with the open stream's response.
   * @param {Stream} stream
   * @param {AbortSignal} signal
   * @param {boolean} wait
   * @returns {Promise<Response | undefined>}
   */
  async #get(stream, signal, wait) {
    for (;;) {
      if (wait && !(await sleep(this.#retryMs, signal))) return undefined;
      wait = true;
      const sessionId = this.#sessionId;
      const headers = this.#headers({ Accept: 'text/event-stream' });
      if (stream.lastEventId !== undefined) headers['Last-Event-ID'] = stream.lastEventId;
      let response;
      try {
        response = await fetch(this.endpoint, { headers, signal, cache: 'no-store' });
      } catch (error) {
        if (signal.aborted) return undefined;
        this.#hooks.log('stream', `${capitalize(stream.name)}: the server is unreachable (${error.message}); trying again`);
        continue;
      }
      if (response.ok) {
        this.#reattached(stream);
        return response;
      }
      const error = await refusalOf(response);
      if (signal.aborted) return undefined;
      if (response.status === 409 || response.status === 429 || response.status >= 500) continue;
      if (response.status === 405 && stream.awaiting === undefined) {
        this.#hooks.log('notice', 'The server offers no standalone stream (405): broadcasts will not arrive.');
        return undefined;
      }
      if (response.status === 400 && stream.lastEventId !== undefined) {
        this.#hooks.log('error', `Could not resume the ${stream.name} from ${stream.lastEventId}: ${error.message}`);
        this.#lose(stream, error);
        if (stream.awaiting !== undefined) return undefined;
        stream.lastEventId = undefined; // the standalone stream: open a fresh one, what was missed is lost
        wait = false;
        continue;
      }
      this.#refused(error, sessionId);
      if (!this.#closed && sessionId === this.#sessionId) {
        this.#hooks.log('error', `The ${stream.name} was refused: ${explainRefusal(error, this.#apiKey !== '')}`);
      }
      return undefined;
    }
  }

  /** @param {Stream} stream */
  #dropped(stream, broken) {
    const first = this.#resuming.size === 0;
    this.#resuming.add(stream);
    const how = broken ? 'cut' : 'ended by the server';
    this.#hooks.log('stream', `${capitalize(stream.name)} ${how}: resuming from ${stream.lastEventId} in ${formatSeconds(this.#retryMs)}`);
    if (first) this.#hooks.onDrop(`A stream was ${how}; resuming with Last-Event-ID.`);
  }

  /** @param {Stream} stream */
  #reattached(stream) {
    if (!this.#resuming.delete(stream)) return;
    this.#hooks.log('stream', `${capitalize(stream.name)} resumed: session ${this.#sessionId} kept, missed messages follow`, { dir: 'in' });
    if (this.#resuming.size === 0) this.#hooks.onResume('Same session; missed messages were replayed.');
  }

  /** The stream cannot be resumed: the requests it still owed a response are lost. */
  #lose(stream, error) {
    const wasResuming = this.#resuming.delete(stream);
    if (stream.awaiting !== undefined && stream.awaiting.size > 0) this.#hooks.onLost([...stream.awaiting], error);
    if (wasResuming && this.#resuming.size === 0) this.#hooks.onResume('Resumed, but some messages were lost.');
  }

  /** @param {Stream} stream */
  #onData(stream, data, eventId) {
    let message;
    try {
      message = JSON.parse(data);
    } catch {
      this.#hooks.log('error', `Unparseable message: ${data.slice(0, 140)}`, { dir: 'in', eventId });
      return;
    }
    for (const item of Array.isArray(message) ? message : [message]) {
      if (isResponse(item)) stream.awaiting?.delete(item.id);
      this.#deliver(item, eventId);
    }
  }

  #deliver(message, eventId) {
    if (isResponse(message) && message.id === this.#initializeId && typeof message.result?.protocolVersion === 'string') {
      this.#negotiated = message.result.protocolVersion;
    }
    this.#hooks.onMessage(message, eventId);
  }
}

function isResponse(message) {
  return message !== null && typeof message === 'object' && message.method === undefined && message.id !== undefined;
}

/** Ids of the requests in a message or batch: their responses are what a POST's stream owes. */
function requestIds(message) {
  return (Array.isArray(message) ? message : [message]).filter((m) => m.method !== undefined && m.id !== undefined).map((m) => m.id);
}

/** Resolves true after `ms`, or false as soon as `signal` aborts. */
function sleep(ms, signal) {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve(false);
    const timer = setTimeout(() => resolve(true), ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        resolve(false);
      },
      { once: true },
    );
  });
}

function capitalize(text) {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function formatSeconds(ms) {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${(ms / 1000).toFixed(1)} s`;
}
