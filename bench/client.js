// bench/client.js: the protocol-level load client for both transports (node:http, and bare sockets for fan-out): one process, the same cost for every contender.
import http from 'node:http';
import net from 'node:net';
import { performance } from 'node:perf_hooks';

/** One contender's address, the headers every request carries, and the agents requests go through. */
export class Target {
  constructor(port, headers = {}) {
    this.host = '127.0.0.1';
    this.port = port;
    this.headers = headers;
    // POSTs reuse keep-alive sockets; each event stream gets a socket of its own.
    this.postAgent = new http.Agent({ keepAlive: true, maxSockets: 256, maxFreeSockets: 256 });
    this.sseAgent = new http.Agent({ keepAlive: false, maxSockets: Infinity });
    this.controlAgent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  }

  destroy() {
    this.postAgent.destroy();
    this.sseAgent.destroy();
    this.controlAgent.destroy();
  }
}

/** A request that always settles: `{ status, body }` or a rejection after `timeoutMs`. */
export function request(target, method, path, { body, headers = {}, agent, timeoutMs = 10_000 } = {}) {
  return new Promise((resolve, reject) => {
    const h = { ...target.headers, ...headers };
    if (body !== undefined) {
      h['content-type'] = 'application/json';
      h['content-length'] = Buffer.byteLength(body);
    }
    const req = http.request({ host: target.host, port: target.port, method, path, headers: h, agent: agent ?? target.postAgent }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString('utf8') });
      });
      res.on('error', fail);
    });
    const timer = setTimeout(() => fail(new Error(`${method} ${path} timed out after ${timeoutMs} ms`)), timeoutMs);
    function fail(err) {
      clearTimeout(timer);
      req.destroy();
      reject(err);
    }
    req.on('error', fail);
    req.end(body);
  });
}

/** GET + JSON on the control agent (no auth headers needed, but harmless). */
export async function control(target, method, path, timeoutMs = 30_000) {
  const r = await request(target, method, path, { agent: target.controlAgent, timeoutMs });
  if (r.status !== 200) throw new Error(`${method} ${path} → ${r.status} ${r.body.slice(0, 200)}`);
  return JSON.parse(r.body);
}

/** One SSE event block (the text between blank lines): its `event` name (default `message`) and joined `data`. */
export function parseSseBlock(text) {
  let event = 'message';
  let data;
  for (const line of text.split('\n')) {
    if (line === '' || line.charCodeAt(0) === 58 /* : */) continue;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.charCodeAt(0) === 32) value = value.slice(1);
    if (field === 'event') event = value;
    else if (field === 'data') data = data === undefined ? value : `${data}\n${value}`;
  }
  return { event, data };
}

const live = new Set();
let sweeper;
/** One timer for every pending call of every session: replies older than their deadline are rejected. */
function sweep() {
  const now = performance.now();
  for (const s of live) {
    for (const [id, p] of s.pending) {
      if (now > p.deadline) {
        s.pending.delete(id);
        p.reject(new Error(`no reply to id ${id} within ${Math.round(p.deadline - p.t0)} ms`));
      }
    }
  }
}

/** An open event stream with its session id; JSON-RPC calls are answered on the stream, matched by id. */
export class Session {
  constructor(target, req, res) {
    this.target = target;
    /** Where POSTs go: the stream's own instance, unless a test sends them to another one. */
    this.postTarget = target;
    this.req = req;
    this.res = res;
    this.buf = '';
    this.postPath = undefined;
    this.sessionId = undefined;
    this.nextId = 0;
    this.pending = new Map();
    this.closed = false;
    this.onNotification = undefined;
    this.onEndpoint = undefined;
    this.onClose = undefined;
    live.add(this);
    if (!sweeper) {
      sweeper = setInterval(sweep, 500);
      sweeper.unref();
    }
  }

  feed(chunk) {
    this.buf += chunk;
    let start = 0;
    let idx;
    while ((idx = this.buf.indexOf('\n\n', start)) !== -1) {
      this.block(this.buf.slice(start, idx));
      start = idx + 2;
    }
    if (start > 0) this.buf = this.buf.slice(start);
  }

  block(text) {
    const { event, data } = parseSseBlock(text);
    if (data === undefined) return;
    if (event === 'endpoint') {
      const url = new URL(data, `http://${this.target.host}:${this.target.port}/mcp/sse`);
      this.postPath = url.pathname + url.search;
      this.sessionId = url.searchParams.get('sessionId');
      this.onEndpoint?.();
      return;
    }
    if (event !== 'message') return;
    const msg = JSON.parse(data);
    if (msg.id !== undefined && msg.method === undefined) {
      const p = this.pending.get(msg.id);
      if (p) {
        this.pending.delete(msg.id);
        p.resolve({ msg, at: performance.now() });
      }
    } else {
      this.onNotification?.(msg);
    }
  }

  ended(reason) {
    if (this.closed) return;
    this.closed = true;
    live.delete(this);
    for (const p of this.pending.values()) p.reject(new Error(`stream closed: ${reason}`));
    this.pending.clear();
    this.onClose?.(reason);
  }

  /** POSTs a request and resolves with `{ msg, latencyMs }` once the reply arrived on the stream and the POST got 202. */
  async call(method, params, timeoutMs = 10_000) {
    if (this.closed) throw new Error('stream closed');
    const id = ++this.nextId;
    const t0 = performance.now();
    const reply = new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, t0, deadline: t0 + timeoutMs });
    });
    let posted;
    try {
      posted = await request(this.postTarget, 'POST', this.postPath, {
        body: JSON.stringify({ jsonrpc: '2.0', id, method, params }),
        timeoutMs,
      });
    } catch (err) {
      this.pending.delete(id);
      reply.catch(() => {});
      throw err;
    }
    if (posted.status !== 202) {
      this.pending.delete(id);
      reply.catch(() => {});
      throw new Error(`POST ${method} → ${posted.status} ${posted.body.slice(0, 200)}`);
    }
    const { msg, at } = await reply;
    if (msg.error) throw new Error(`${method} → JSON-RPC error ${JSON.stringify(msg.error)}`);
    return { msg, latencyMs: at - t0 };
  }

  async notify(method, params) {
    const r = await request(this.postTarget, 'POST', this.postPath, {
      body: JSON.stringify(params === undefined ? { jsonrpc: '2.0', method } : { jsonrpc: '2.0', method, params }),
    });
    if (r.status !== 202) throw new Error(`POST ${method} → ${r.status} ${r.body.slice(0, 200)}`);
  }

  /** The MCP handshake: `initialize` (protocol 2024-11-05), then `notifications/initialized`. */
  async initialize() {
    const { msg } = await this.call('initialize', {
      protocolVersion: '2024-11-05',
      capabilities: {},
      clientInfo: { name: 'express-mcp-sse-bench', version: '1.0.0' },
    });
    if (!msg.result?.protocolVersion) throw new Error(`bad initialize result ${JSON.stringify(msg).slice(0, 200)}`);
    await this.notify('notifications/initialized');
  }

  close() {
    this.req.destroy();
    this.ended('closed by client');
  }
}

/**
 * Opens `GET /mcp/sse` and resolves once the `endpoint` event arrived. With `raw`, the stream is not parsed
 * after that (the slow-consumer phase pauses it instead).
 */
export function openSession(target, { timeoutMs = 10_000 } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: target.host,
      port: target.port,
      method: 'GET',
      path: '/mcp/sse',
      agent: target.sseAgent,
      headers: { accept: 'text/event-stream', ...target.headers },
    });
    let session;
    let settled = false;
    const timer = setTimeout(() => fail(new Error(`no endpoint event within ${timeoutMs} ms`)), timeoutMs);
    function fail(err) {
      if (settled) {
        session?.ended(err.message);
        return;
      }
      settled = true;
      clearTimeout(timer);
      req.destroy();
      session?.ended(err.message);
      reject(err);
    }
    req.on('error', fail);
    req.on('response', (res) => {
      if (res.statusCode !== 200) {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => fail(new Error(`GET /mcp/sse → ${res.statusCode} ${Buffer.concat(chunks).toString().slice(0, 200)}`)));
        return;
      }
      res.setEncoding('utf8');
      session = new Session(target, req, res);
      session.onEndpoint = () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(session);
      };
      res.on('data', (chunk) => {
        try {
          session.feed(chunk);
        } catch (err) {
          fail(err);
        }
      });
      res.on('end', () => fail(new Error('stream ended')));
      res.on('close', () => fail(new Error('stream closed')));
      res.on('error', fail);
    });
    req.end();
  });
}

/** Runs `fn(i)` for i in [0, n) with at most `concurrency` at once; resolves with the results (errors kept). */
export async function pool(n, concurrency, fn) {
  const results = new Array(n);
  let next = 0;
  async function worker() {
    while (next < n) {
      const i = next++;
      try {
        results[i] = { ok: true, value: await fn(i) };
      } catch (err) {
        results[i] = { ok: false, error: err };
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
  return results;
}

export function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * A stream over a bare `net` socket, for fan-out: no HTTP parser and no SSE parser on the client, just a native
 * byte search for a marker in what arrives, so the client keeps up with the server at thousands of streams.
 */
export function openRawStream(target, { timeoutMs = 10_000 } = {}) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(target.port, target.host);
    let head = '';
    let settled = false;
    const stream = {
      socket,
      sessionId: undefined,
      closed: false,
      /** Called with each chunk after the endpoint event; `tail` is the end of the previous chunk. */
      onChunk: undefined,
      close() {
        socket.destroy();
      },
    };
    const timer = setTimeout(() => fail(new Error(`no endpoint event within ${timeoutMs} ms`)), timeoutMs);
    function fail(err) {
      stream.closed = true;
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      reject(err);
    }
    socket.setNoDelay(true);
    socket.on('error', fail);
    socket.on('close', () => fail(new Error('stream closed')));
    socket.on('connect', () => {
      const extra = Object.entries(target.headers)
        .map(([k, v]) => `${k}: ${v}\r\n`)
        .join('');
      socket.write(`GET /mcp/sse HTTP/1.1\r\nHost: ${target.host}:${target.port}\r\nAccept: text/event-stream\r\n${extra}\r\n`);
    });
    socket.on('data', (chunk) => {
      if (settled) {
        stream.onChunk?.(chunk);
        return;
      }
      head += chunk.toString('latin1');
      if (!head.startsWith('HTTP/1.1 200')) {
        if (head.includes('\r\n')) fail(new Error(`GET /mcp/sse → ${head.split('\r\n')[0]}`));
        return;
      }
      const m = /(?:^|\n\n|\r\n)event: endpoint\n(?:[^\n]+\n)*?data: ([^\n]*)\n/.exec(head);
      if (!m) return;
      const url = new URL(m[1], `http://${target.host}:${target.port}/mcp/sse`);
      stream.sessionId = url.searchParams.get('sessionId');
      settled = true;
      clearTimeout(timer);
      resolve(stream);
    });
  });
}
