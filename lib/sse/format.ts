// SSE framing as pure functions: every frame this package writes is built here.

const lineBreak = /\r\n|\r|\n/;

/** Headers of every event stream; frozen so no request can change them for the others. */
export const sseHeaders: Readonly<Record<string, string>> = Object.freeze({
  'Content-Type': 'text/event-stream',
  'Cache-Control': 'no-cache, no-transform',
  Connection: 'keep-alive',
  'X-Accel-Buffering': 'no',
});

/** A `retry:` hint telling `EventSource` clients how long to wait before reconnecting. */
export function formatRetry(ms: number): string {
  return `retry: ${Math.max(0, Math.floor(ms))}\n\n`;
}

/**
 * The priming event of a Streamable HTTP stream (clients at 2025-11-25 or later): an id to resume from before any
 * message arrives, and the reconnect delay, with empty data.
 */
export function formatPriming(id: string, retryMs: number): string {
  return `id: ${id}\nretry: ${Math.max(0, Math.floor(retryMs))}\ndata: \n\n`;
}

/**
 * An event that only moves the client's last event id to `id`: a named event with empty data, which `EventSource`
 * implementations record (they take the id of every dispatched event) and MCP clients ignore (not `message`).
 */
export function formatResumePoint(id: string): string {
  return `event: resume-point\nid: ${id}\ndata: \n\n`;
}

/** A comment frame; clients ignore it, proxies see traffic. */
export function formatComment(text: string): string {
  return `: ${text.replace(/[\r\n]+/g, ' ')}\n\n`;
}

/**
 * A `message` event carrying one JSON-RPC message already serialised to one line.
 * JSON.stringify never emits raw line breaks, so no splitting is needed: this is the hot path.
 */
export function formatMessage(id: string, json: string): string {
  return `event: message\nid: ${id}\ndata: ${json}\n\n`;
}

/** The data of a custom event: strings as they are, anything else JSON-encoded. */
export type EventData = string | number | boolean | null | object;

/**
 * A named event. String data is split into one `data:` line per line; anything else is JSON-encoded.
 * Throws a `TypeError` when `event` or `id` contains CR or LF, since those would forge frames.
 */
export function formatEvent(event: string | undefined, data: EventData, id: string | undefined): string {
  assertSingleLine('event', event);
  assertSingleLine('id', id);
  const text = typeof data === 'string' ? data : JSON.stringify(data);
  let frame = '';
  if (event !== undefined && event !== '') frame += `event: ${event}\n`;
  if (id !== undefined) frame += `id: ${id}\n`;
  for (const line of text.split(lineBreak)) frame += `data: ${line}\n`;
  return `${frame}\n`;
}

function assertSingleLine(field: string, value: string | undefined): void {
  if (value === undefined) return;
  if (typeof value !== 'string') throw new TypeError(`SSE ${field} must be a string, got ${typeof value}.`);
  if (value.includes('\n') || value.includes('\r')) {
    throw new TypeError(`SSE ${field} must not contain CR or LF (got ${JSON.stringify(value)}).`);
  }
}
