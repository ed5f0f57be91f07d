// bench/streamable-client.js: the load client's Streamable HTTP side (raw node:http): sessions, calls answered on their own SSE response, standalone GET streams on bare sockets.
import http from 'node:http';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { parseSseBlock, request } from './client.js';

/** Where every Streamable HTTP contender serves the transport (`app.use('/mcp', router)` for the package). */
export const MCP_PATH = '/mcp';
/** What the SDK v1 and v2 clients send today. */
export const PROTOCOL_VERSION = '2025-11-25';

const ACCEPT = 'application/json, text/event-stream';

/** The 2026-07-28 era: the version every request carries in its `_meta` (and header), with the client's info. */
export const MODERN_PROTOCOL_VERSION = '2026-07-28';
const modernMeta = {
  'io.modelcontextprotocol/protocolVersion': MODERN_PROTOCOL_VERSION,
  'io.modelcontextprotocol/clientInfo': { name: 'express-mcp-sse-bench', version: '1.0.0' },
  'io.modelcontextprotocol/clientCapabilities': {},
};

/**
 * One Streamable HTTP session, as an SDK client runs it: `initialize` (reading `Mcp-Session-Id`), then
 * `notifications/initialized` (202), then requests, each POSTed with the session headers and answered on the
 * POST's own response (an event stream, read until the response with the request's id; or one JSON body).
 * It has the interface `callLoad` uses (`call`, `closed`), like the HTTP+SSE `Session`.
 */
export class StreamableSession {
  /** `modern`: speak the 2026-07-28 era instead (no session; each request carries its version, method and name). */
  constructor(target, { modern = false } = {}) {
    this.target = target;
    this.modern = modern;
    /** Where POSTs go: the session's own instance, unless a phase sends them to another one. */
    this.postTarget = target;
    this.sessionId = undefined;
    this.nextId = 0;
    this.closed = false;
  }

  /** The MCP handshake; resolves once the session id is known and `notifications/initialized` got 202. */
  async initialize(timeoutMs = 10_000) {
    const { msg, headers } = await this.#post(
      {
        jsonrpc: '2.0',
        id: ++this.nextId,
        method: 'initialize',
        params: { protocolVersion: PROTOCOL_VERSION, capabilities: {}, clientInfo: { name: 'express-mcp-sse-bench', version: '1.0.0' } },
      },
      timeoutMs,
    );
    if (!msg.result?.protocolVersion) throw new Error(`bad initialize result ${JSON.stringify(msg).slice(0, 200)}`);
    const sessionId = headers['mcp-session-id'];
    if (typeof sessionId !== 'string' || sessionId === '') throw new Error('initialize answered without Mcp-Session-Id');
    this.sessionId = sessionId;
    await this.notify('notifications/initialized');
  }

  /** POSTs a request; resolves with `{ msg, latencyMs }` once its response arrived (the rest of the stream is drained). */
  async call(method, params, timeoutMs = 10_000) {
    if (this.closed) throw new Error('session closed');
    const t0 = performance.now();
    const message = this.modern
      ? { jsonrpc: '2.0', id: ++this.nextId, method, params: { ...params, _meta: modernMeta } }
      : { jsonrpc: '2.0', id: ++this.nextId, method, params };
    const { msg, at } = await this.#post(message, timeoutMs);
    if (msg.error) throw new Error(`${method} → JSON-RPC error ${JSON.stringify(msg.error)}`);
    return { msg, latencyMs: at - t0 };
  }

  /** POSTs a notification; the transport answers 202. */
  async notify(method, params) {
    const r = await request(this.postTarget, 'POST', MCP_PATH, {
      body: JSON.stringify(params === undefined ? { jsonrpc: '2.0', method } : { jsonrpc: '2.0', method, params }),
      headers: this.#headers(),
    });
    if (r.status !== 202) throw new Error(`POST ${method} → ${r.status} ${r.body.slice(0, 200)}`);
  }

  /** Ends the session on the server (`DELETE`), as a client that closes cleanly does. */
  async terminate() {
    this.closed = true;
    const r = await request(this.postTarget, 'DELETE', MCP_PATH, { headers: this.#headers() });
    if (r.status !== 200) throw new Error(`DELETE → ${r.status} ${r.body.slice(0, 200)}`);
  }

  /** Stops using the session here only (the contender process is about to stop, or the phase is over). */
  close() {
    this.closed = true;
  }

  #headers(message = {}) {
    if (this.modern) {
      const h = { accept: ACCEPT, 'mcp-protocol-version': MODERN_PROTOCOL_VERSION };
      if (typeof message.method === 'string') h['mcp-method'] = message.method;
      if (typeof message.params?.name === 'string') h['mcp-name'] = message.params.name;
      return h;
    }
    const h = { accept: ACCEPT, 'mcp-protocol-version': PROTOCOL_VERSION };
    if (this.sessionId !== undefined) h['mcp-session-id'] = this.sessionId;
    return h;
  }

  /** POSTs one request and resolves with its response message, the response headers and when it arrived. */
  #post(message, timeoutMs) {
    const target = this.postTarget;
    const body = JSON.stringify(message);
    const id = message.id;
    return new Promise((resolve, reject) => {
      let settled = false;
      const req = http.request({
        host: target.host,
        port: target.port,
        method: 'POST',
        path: MCP_PATH,
        agent: target.postAgent,
        headers: { ...target.headers, ...this.#headers(message), 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      });
      const timer = setTimeout(() => fail(new Error(`no response to id ${id} within ${timeoutMs} ms`)), timeoutMs);
      function fail(err) {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        req.destroy();
        reject(err);
      }
      function done(msg, headers) {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve({ msg, headers, at: performance.now() });
      }
      req.on('error', fail);
      req.on('response', (res) => {
        const type = res.headers['content-type'] ?? '';
        res.setEncoding('utf8');
        if (res.statusCode !== 200 || !(type.startsWith('text/event-stream') || type.startsWith('application/json'))) {
          let text = '';
          res.on('data', (c) => (text += c));
          res.on('end', () => fail(new Error(`POST ${message.method} → ${res.statusCode} ${type} ${text.slice(0, 200)}`)));
          res.on('error', fail);
          return;
        }
        if (type.startsWith('application/json')) {
          let text = '';
          res.on('data', (c) => (text += c));
          res.on('end', () => {
            try {
              const parsed = JSON.parse(text);
              const msg = (Array.isArray(parsed) ? parsed : [parsed]).find((m) => m.id === id && m.method === undefined);
              if (msg) done(msg, res.headers);
              else fail(new Error(`JSON body without the response to id ${id}`));
            } catch (err) {
              fail(err);
            }
          });
          res.on('error', fail);
          return;
        }
        // An event stream: read events until the response to this request; whatever follows is only drained,
        // so that the socket goes back to the keep-alive pool.
        let buf = '';
        res.on('data', (chunk) => {
          if (settled) return;
          buf += chunk;
          let start = 0;
          let at;
          while ((at = buf.indexOf('\n\n', start)) !== -1) {
            const { event, data } = parseSseBlock(buf.slice(start, at));
            start = at + 2;
            // Priming events carry empty data; notifications about the request carry a method.
            if (event !== 'message' || data === undefined || data === '') continue;
            let msg;
            try {
              msg = JSON.parse(data);
            } catch (err) {
              return fail(err);
            }
            if (msg.id === id && msg.method === undefined) return done(msg, res.headers);
          }
          if (start > 0) buf = buf.slice(start);
        });
        res.on('end', () => fail(new Error(`the response stream of id ${id} ended without its response`)));
        res.on('error', fail);
      });
      req.end(body);
    });
  }
}

/** Opens and initializes one Streamable HTTP session; a `modern` (2026-07-28) one has no handshake. */
export async function openStreamableSession(target, { timeoutMs = 10_000, modern = false } = {}) {
  const session = new StreamableSession(target, { modern });
  if (!modern) await session.initialize(timeoutMs);
  return session;
}

/**
 * The standalone `GET` stream of a session over a bare socket, for fan-out: no HTTP nor SSE parser on the
 * client, just a byte search for a marker. The SDK transports send the response head only with the first event,
 * so the stream counts as open once the request is written; the fan-out phase then broadcasts until every
 * stream has heard one before it measures. A non-200 head is kept in `refused`.
 */
export function openRawStandaloneStream(target, sessionId) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(target.port, target.host);
    const stream = {
      socket,
      sessionId,
      closed: false,
      refused: undefined,
      onChunk: undefined,
      close() {
        socket.destroy();
      },
    };
    let headSeen = false;
    let opened = false;
    socket.setNoDelay(true);
    socket.on('error', (err) => {
      stream.closed = true;
      if (!opened) reject(err);
    });
    socket.on('close', () => (stream.closed = true));
    socket.on('data', (chunk) => {
      if (!headSeen) {
        headSeen = true;
        const line = chunk.toString('latin1', 0, Math.min(chunk.length, 64)).split('\r\n')[0];
        if (!line.startsWith('HTTP/1.1 200')) stream.refused = line;
      }
      stream.onChunk?.(chunk);
    });
    socket.on('connect', () => {
      const headers = { ...target.headers, accept: 'text/event-stream', 'mcp-session-id': sessionId, 'mcp-protocol-version': PROTOCOL_VERSION };
      const extra = Object.entries(headers)
        .map(([k, v]) => `${k}: ${v}\r\n`)
        .join('');
      socket.write(`GET ${MCP_PATH} HTTP/1.1\r\nHost: ${target.host}:${target.port}\r\n${extra}\r\n`, () => {
        opened = true;
        resolve(stream);
      });
    });
  });
}
