// The legacy HTTP+SSE transport (MCP 2024-11-05) for the console: the browser's own EventSource, and fetch POSTs.
//
// Wire flow: GET the SSE stream, wait for the `endpoint` event (the URL to POST to, carrying the sessionId), then
// POST every message there; replies and notifications all come back as `message` events on the one stream. When
// the stream drops, EventSource reconnects by itself after the server's `retry:` delay and sends Last-Event-ID; the
// server answers with the same `endpoint` event and replays what was missed. Same sessionId: a resume, nothing to
// redo. New sessionId: a fresh session, which the console must initialize again.

import { explainRefusal, refusalOf } from './rpc-error.js';

/** @typedef {import('./transport.js').TransportHooks} TransportHooks */

/** How long a refused stream waits before asking why (see `#onStreamError`). */
const PROBE_DELAY_MS = 250;

export class SseTransport {
  kind = 'sse';
  protocolVersion = '2024-11-05';
  /** Where the stream lives, without the API key: for display. */
  endpoint;
  /** @type {TransportHooks} */
  #hooks;
  #apiKey;
  /** The stream URL, with the key: EventSource cannot send headers, so the key rides in the query. */
  #streamUrl;
  /** @type {EventSource | null} */
  #source = null;
  /** @type {URL | null} Where to POST, from the latest `endpoint` event. */
  #postUrl = null;
  /** @type {string | null} */
  #sessionId = null;
  /** True between a stream error and the next `endpoint` event. */
  #reconnecting = false;
  /** Set once the console closed this transport (Disconnect, switch, page unload): nothing more to report. */
  #closed = false;

  /** @param {{ path: string, apiKey: string, hooks: TransportHooks }} options */
  constructor({ path, apiKey, hooks }) {
    this.endpoint = new URL(path, location.href);
    this.#streamUrl = new URL(this.endpoint);
    // The server keeps the key out of the endpoint URL it sends back, so POSTs send it as a header.
    if (apiKey) this.#streamUrl.searchParams.set('api_key', apiKey);
    this.#apiKey = apiKey;
    this.#hooks = hooks;
  }

  connect() {
    const source = new EventSource(this.#streamUrl);
    this.#source = source;
    // One listener of each kind, and only the current source is heard: no double handling.
    source.addEventListener('endpoint', (event) => source === this.#source && this.#onEndpoint(/** @type {MessageEvent} */ (event)));
    source.addEventListener('message', (event) => source === this.#source && this.#onMessage(event));
    source.addEventListener('error', () => source === this.#source && this.#onStreamError(source));
    this.#hooks.log('stream', `Opening ${this.endpoint.pathname}${this.#apiKey ? ' with an API key' : ''}`);
  }

  /** POSTs one message; resolves once the server accepted it (202). Its reply arrives on the stream. */
  async send(message) {
    if (this.#postUrl === null) throw new Error('Not connected: no endpoint yet.');
    const headers = { 'Content-Type': 'application/json', Accept: 'application/json' };
    if (this.#apiKey) headers['X-API-Key'] = this.#apiKey;
    const response = await fetch(this.#postUrl, { method: 'POST', headers, body: JSON.stringify(message) });
    if (!response.ok) throw await refusalOf(response);
  }

  /** Closes the stream. The session is not ended: HTTP+SSE has no way to say so; it expires on the server. */
  close() {
    this.#closed = true;
    this.#stop();
    return 'The server keeps the session for its resume window, then closes it.';
  }

  #stop() {
    const source = this.#source;
    this.#source = null;
    this.#postUrl = null;
    source?.close();
  }

  /** @param {MessageEvent} event */
  #onEndpoint(event) {
    const postUrl = new URL(event.data, this.#streamUrl);
    const sessionId = postUrl.searchParams.get('sessionId');
    const previous = this.#sessionId;
    const wasReconnecting = this.#reconnecting;
    this.#reconnecting = false;
    this.#postUrl = postUrl;

    if (wasReconnecting && previous !== null && sessionId === previous) {
      // A resume: the server replays what we missed right after this event. No new handshake.
      this.#hooks.log('stream', `Stream resumed: session ${sessionId} kept, missed messages follow`, { dir: 'in' });
      this.#hooks.onResume('Same session; missed messages were replayed.');
      return;
    }

    this.#sessionId = sessionId;
    this.#hooks.onSessionId(sessionId);
    if (previous === null) {
      this.#hooks.log('stream', `Stream open: session ${sessionId}`, { dir: 'in', title: `POST to ${postUrl.pathname}${postUrl.search}` });
      this.#hooks.onSession({ replaced: false });
      return;
    }
    // Resume refused (session expired, server restarted, buffer overrun): a fresh session, so start over.
    this.#hooks.log('notice', `Resume refused: the server opened a new session ${sessionId}; initializing again`, { dir: 'in' });
    this.#hooks.onSession({ replaced: true, reason: 'The session was replaced by a new one; the call was lost.' });
  }

  #onMessage(event) {
    const eventId = event.lastEventId;
    let message;
    try {
      message = JSON.parse(event.data);
    } catch {
      this.#hooks.log('error', `Unparseable message: ${String(event.data).slice(0, 140)}`, { dir: 'in', eventId });
      return;
    }
    for (const item of Array.isArray(message) ? message : [message]) this.#hooks.onMessage(item, eventId);
  }

  /** @param {EventSource} source */
  #onStreamError(source) {
    if (source.readyState === EventSource.CONNECTING) {
      // EventSource retries on its own after the `retry:` delay, sending Last-Event-ID; report the drop once.
      if (!this.#reconnecting) {
        this.#reconnecting = true;
        this.#hooks.log('stream', 'Stream dropped: reconnecting…');
        this.#hooks.onDrop('Stream dropped; the browser reconnects with Last-Event-ID.');
      }
      return;
    }
    // CLOSED: the server refused the stream (401, 403, 409, 503…) or the response was not an event stream. Or the
    // page is going away: Chromium fails the stream just before `pagehide`, and a probe sent then outlives the page
    // as an open stream (a session nobody closes). So wait a moment; a page that unloads has closed us by then.
    this.#stop();
    setTimeout(() => this.#closed || void this.#explainRefusal(), PROBE_DELAY_MS);
  }

  /** EventSource hides the status of a refused stream; ask once with fetch to tell the user why. */
  async #explainRefusal() {
    const controller = new AbortController();
    let message;
    let status;
    try {
      const response = await fetch(this.#streamUrl, { signal: controller.signal, headers: { Accept: 'text/event-stream' }, cache: 'no-store' });
      if (response.ok) {
        controller.abort();
        message = 'The stream ended unexpectedly. Press Connect to try again.';
      } else {
        const error = await refusalOf(response);
        status = error.status;
        message = explainRefusal(error, this.#apiKey !== '');
      }
    } catch (error) {
      message = controller.signal.aborted ? 'The stream ended unexpectedly.' : `The server is unreachable (${error.message}).`;
    }
    this.#hooks.onFail(message, { status });
  }
}
