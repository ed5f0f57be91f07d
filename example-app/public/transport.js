// The one interface the console talks to, whichever transport the switch picks; each transport is its own module.
import { SseTransport } from './transport-sse.js';
import { StreamableTransport } from './transport-streamable.js';

/**
 * What a transport tells the console. The console owns the MCP conversation (handshake, request ids, tools); a
 * transport only moves JSON-RPC messages and says what happens to the connection.
 * @typedef {object} TransportHooks
 * @property {(session: { replaced: boolean, reason?: string }) => void} onSession
 *   A session is ready to be initialized: the first one, or (`replaced`) a new one because the server lost the old
 *   one, whose pending requests will never be answered (`reason` says why).
 * @property {(sessionId: string | null) => void} onSessionId   The session id became known, or was forgotten.
 * @property {(message: any, eventId: string | undefined) => void} onMessage   A JSON-RPC message from the server.
 * @property {(detail: string) => void} onDrop   A stream dropped; the transport is resuming it.
 * @property {(detail: string) => void} onResume   Every dropped stream is back on the same session.
 * @property {(ids: Array<string | number>, error: Error) => void} onLost   These requests' replies will never come.
 * @property {(message: string, info: { status?: number }) => void} onFail   Refused for good; the transport stopped.
 * @property {(kind: string, text: string, meta?: object) => void} log   A line for the activity log.
 */

/**
 * A transport, as the console uses it.
 * @typedef {object} Transport
 * @property {'streamable' | 'sse'} kind
 * @property {string} protocolVersion   what the console asks for in `initialize`
 * @property {URL} endpoint   where it connects, for display
 * @property {() => void} connect   starts; `onSession` follows once a session can be initialized
 * @property {(message: object) => Promise<void>} send
 *   Sends one message; resolves once the server accepted it, and rejects with an RpcError when it was refused.
 *   Replies arrive through `onMessage`.
 * @property {() => string} close   stops for good (ending the session where the transport can); says what happened
 */

/** The transports of the switch, in its order; `path` is where each lives relative to the page. */
export const transports = {
  streamable: { label: 'Streamable HTTP', path: 'mcp', create: (options) => new StreamableTransport(options) },
  sse: { label: 'HTTP+SSE (legacy)', path: 'mcp/sse', create: (options) => new SseTransport(options) },
};

/**
 * @param {'streamable' | 'sse'} kind
 * @param {{ path?: string | null, apiKey: string, hooks: TransportHooks }} options
 * @returns {Transport}
 */
export function createTransport(kind, { path, apiKey, hooks }) {
  const entry = transports[kind];
  return entry.create({ path: path ?? entry.path, apiKey, hooks });
}
