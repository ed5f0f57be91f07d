// Reads a text/event-stream response body as it arrives (fetch can send headers, EventSource cannot).
//
// The parsing rules of the HTML standard's "Interpreting an event stream", reduced to what an MCP client needs:
// lines end with CRLF, LF or CR; `:` starts a comment; `id:`, `event:`, `data:` and `retry:` fields; a blank line
// dispatches the event. An event with empty data (the Streamable HTTP "priming" event) is not dispatched, but its
// id still counts: it is where a resume starts.

/**
 * @typedef {object} SseEvent
 * @property {string} type   the `event:` field, `message` when absent
 * @property {string} data   the `data:` lines joined with LF
 * @property {string | undefined} id   the last event id seen on the stream so far
 */

/**
 * Calls `onEvent` for every event of `body` and `onId` whenever the last event id changes (a priming event only
 * changes the id); `onRetry` receives `retry:` hints in ms. Resolves when the stream ends; rejects when it breaks
 * (a cut connection, an abort).
 * @param {ReadableStream<Uint8Array>} body
 * @param {{ onEvent: (event: SseEvent) => void, onId?: (id: string) => void, onRetry?: (ms: number) => void }} handlers
 */
export async function readSse(body, { onEvent, onId = () => {}, onRetry = () => {} }) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  let first = true;
  let type = '';
  let data = [];
  /** @type {string | undefined} */
  let lastId;

  const dispatch = () => {
    const lines = data;
    const eventType = type;
    data = [];
    type = '';
    if (lines.length === 0) return;
    const text = lines.join('\n');
    if (text === '') return; // priming event: its id was recorded, nothing to deliver
    onEvent({ type: eventType || 'message', data: text, id: lastId });
  };

  const field = (line) => {
    if (line === '') return dispatch();
    if (line.startsWith(':')) return; // comment (keep-alive)
    const colon = line.indexOf(':');
    const name = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (name) {
      case 'data':
        data.push(value);
        break;
      case 'event':
        type = value;
        break;
      case 'id':
        if (!value.includes('\0')) {
          lastId = value;
          onId(value);
        }
        break;
      case 'retry':
        if (/^\d+$/.test(value)) onRetry(Number(value));
        break;
      default:
      // Unknown fields are ignored, as the standard says.
    }
  };

  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    if (first && buffer.length > 0) {
      if (buffer.charCodeAt(0) === 0xfeff) buffer = buffer.slice(1);
      first = false;
    }
    // Split off complete lines. A trailing CR may be the first half of a CRLF still in flight: keep it for later.
    let start = 0;
    for (let i = 0; i < buffer.length; i++) {
      const char = buffer[i];
      if (char !== '\n' && char !== '\r') continue;
      if (char === '\r' && i === buffer.length - 1) break;
      field(buffer.slice(start, i));
      if (char === '\r' && buffer[i + 1] === '\n') i++;
      start = i + 1;
    }
    buffer = buffer.slice(start);
  }
  // An event without its closing blank line is incomplete: the standard drops it, and so do we.
}
