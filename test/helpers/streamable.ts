// Test helpers for the Streamable HTTP endpoint: raw requests with the MCP headers, a session opened by hand, and
// an SDK v1 server whose tools pause where the test says, so streams can be cut and resumed mid-call.
import type { IncomingHttpHeaders } from 'node:http';
import type http from 'node:http';
import { z } from 'zod';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { SessionContext } from '../../lib/index.js';
import { buildServerV1 } from './server.js';
import { messageOf, openRequest, type RawStream, type SseEvent } from './sse.js';

/** The newest protocol version: its clients get priming events and may be asked to poll. */
export const latestVersion = '2025-11-25';
/** The version before it: no priming events. */
export const previousVersion = '2025-06-18';
/** What Streamable HTTP clients send as `Accept` on a POST. */
export const acceptBoth = 'application/json, text/event-stream';

export interface McpRequest {
  /** Defaults to `POST`. */
  method?: string;
  sessionId?: string;
  protocolVersion?: string;
  lastEventId?: string;
  /** Defaults to both types for POST, `text/event-stream` otherwise; `null` sends no `Accept`. */
  accept?: string | null;
  /** Defaults to `application/json` when there is a body; `null` sends none. */
  contentType?: string | null;
  headers?: Record<string, string>;
  /** A value is serialised as JSON; a string or bytes go as they are. */
  body?: unknown;
  agent?: http.Agent | false;
}

/** Sends one request to the Streamable HTTP endpoint; resolves once the response head arrives. */
export function mcpRequest(url: string, request: McpRequest = {}): Promise<RawStream> {
  const method = request.method ?? 'POST';
  const headers: Record<string, string> = {};
  const accept = request.accept === undefined ? (method === 'POST' ? acceptBoth : 'text/event-stream') : request.accept;
  if (accept !== null) headers.Accept = accept;
  let body: string | Uint8Array | undefined;
  if (request.body !== undefined) {
    body = typeof request.body === 'string' || request.body instanceof Uint8Array ? request.body : JSON.stringify(request.body);
    const contentType = request.contentType === undefined ? 'application/json' : request.contentType;
    if (contentType !== null) headers['Content-Type'] = contentType;
  }
  if (request.sessionId !== undefined) headers['Mcp-Session-Id'] = request.sessionId;
  if (request.protocolVersion !== undefined) headers['MCP-Protocol-Version'] = request.protocolVersion;
  if (request.lastEventId !== undefined) headers['Last-Event-ID'] = request.lastEventId;
  return openRequest(url, { method, headers: { ...headers, ...request.headers }, body, agent: request.agent ?? false });
}

/** The whole answer of a request whose response ends. */
export interface McpReply {
  status: number;
  /** Lower-case names, repeated headers joined. */
  headers: Record<string, string>;
  text: string;
  /** The parsed body: a JSON body, or the data of the `message` events of an event stream. */
  json: unknown;
  events: SseEvent[];
  /** Every `retry:` value of an event stream. */
  retries: number[];
}

/** Sends a request and reads its response to the end. */
export async function mcpReply(url: string, request: McpRequest = {}, timeoutMs = 5000): Promise<McpReply> {
  return replyOf(await mcpRequest(url, request), timeoutMs);
}

/** Reads a response to its end; rejects when it stays open past `timeoutMs`. */
export async function replyOf(stream: RawStream, timeoutMs = 5000): Promise<McpReply> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      stream.destroy();
      reject(new Error(`response ${stream.status} did not end in ${timeoutMs} ms; got ${JSON.stringify(stream.text)}`));
    }, timeoutMs);
  });
  await Promise.race([stream.done, timeout]).finally(() => clearTimeout(timer));
  const headers = flatHeaders(stream.headers);
  const isStream = (headers['content-type'] ?? '').startsWith('text/event-stream');
  let json: unknown;
  if (isStream) json = stream.events.filter((e) => e.event === 'message').map(messageOf);
  else {
    try {
      json = JSON.parse(stream.text);
    } catch {
      json = undefined;
    }
  }
  return { status: stream.status, headers, text: stream.text, json, events: [...stream.events], retries: [...stream.retries] };
}

export function flatHeaders(headers: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) if (value !== undefined) out[name] = Array.isArray(value) ? value.join(', ') : value;
  return out;
}

/** An `initialize` request as a client at `protocolVersion` sends it. */
export function initializeRequest(protocolVersion = latestVersion, id: string | number = 'init') {
  return {
    jsonrpc: '2.0' as const,
    id,
    method: 'initialize',
    params: { protocolVersion, capabilities: {}, clientInfo: { name: 'raw-streamable-test', version: '1.0.0' } },
  };
}

export const initializedNotification = { jsonrpc: '2.0' as const, method: 'notifications/initialized' };

/** A JSON-RPC request. */
export function rpc(id: string | number, method: string, params?: Record<string, unknown>) {
  return params === undefined ? { jsonrpc: '2.0' as const, id, method } : { jsonrpc: '2.0' as const, id, method, params };
}

/** A `tools/call` request; `progressToken` asks for progress notifications. */
export function callTool(id: string | number, name: string, args: Record<string, unknown> = {}, progressToken?: string | number) {
  const params: Record<string, unknown> = { name, arguments: args };
  if (progressToken !== undefined) params._meta = { progressToken };
  return rpc(id, 'tools/call', params);
}

/** A session opened by hand: `initialize`, its response, then `notifications/initialized`. */
export interface RawSession {
  url: string;
  sessionId: string;
  protocolVersion: string;
  /** The `initialize` result. */
  result: Record<string, unknown>;
  /** Sends a request on this session (its id, version and headers added). */
  request(request?: McpRequest): Promise<RawStream>;
  /** The same, read to the end. */
  reply(request?: McpRequest, timeoutMs?: number): Promise<McpReply>;
  /** Opens the standalone `GET` stream (or resumes one with `lastEventId`). */
  listen(lastEventId?: string): Promise<RawStream>;
}

export interface OpenSessionOptions {
  protocolVersion?: string;
  /** Sent on every request (credentials). */
  headers?: Record<string, string>;
}

/** Opens a session on `url`; throws when `initialize` is refused. */
export async function openMcpSession(url: string, options: OpenSessionOptions = {}): Promise<RawSession> {
  const { protocolVersion = latestVersion, headers = {} } = options;
  const init = await mcpReply(url, { body: initializeRequest(protocolVersion), headers });
  const sessionId = init.headers['mcp-session-id'];
  if (init.status !== 200 || sessionId === undefined) throw new Error(`initialize got ${init.status}: ${init.text}`);
  // An event stream, or one JSON body with `jsonResponse: true`.
  const messages = (Array.isArray(init.json) ? init.json : [init.json]) as Record<string, unknown>[];
  const response = messages.find((m) => m?.id === 'init');
  if (response === undefined) throw new Error(`initialize answered no response: ${init.text}`);
  const request = (more: McpRequest = {}) => mcpRequest(url, { sessionId, protocolVersion, ...more, headers: { ...headers, ...more.headers } });
  const session: RawSession = {
    url,
    sessionId,
    protocolVersion,
    result: response.result as Record<string, unknown>,
    request,
    reply: async (more, timeoutMs) => replyOf(await request(more), timeoutMs),
    listen: (lastEventId) => request({ method: 'GET', ...(lastEventId === undefined ? {} : { lastEventId }) }),
  };
  const initialized = await session.reply({ body: initializedNotification });
  if (initialized.status !== 202) throw new Error(`notifications/initialized got ${initialized.status}: ${initialized.text}`);
  return session;
}

/** The JSON-RPC messages among `events` (priming events carry no data). */
export function messagesOf(events: SseEvent[]): Record<string, unknown>[] {
  return events.filter((e) => e.event === 'message').map(messageOf);
}

/** Points where a tool waits until the test opens them; the test can also wait for a tool to get there. */
export class Gates {
  readonly #gates = new Map<string, { reached: () => void; reachedP: Promise<void>; open: () => void; openP: Promise<void> }>();

  #get(name: string) {
    let gate = this.#gates.get(name);
    if (gate === undefined) {
      let reached!: () => void;
      let open!: () => void;
      const reachedP = new Promise<void>((resolve) => (reached = resolve));
      const openP = new Promise<void>((resolve) => (open = resolve));
      gate = { reached, reachedP, open, openP };
      this.#gates.set(name, gate);
    }
    return gate;
  }

  /** Tool side: waits at `name` until the test opens it. */
  pass(name: string): Promise<void> {
    const gate = this.#get(name);
    gate.reached();
    return gate.openP;
  }

  /** Test side: lets a tool waiting at `name` (or arriving later) go on. */
  open(name: string): void {
    this.#get(name).open();
  }

  /** Test side: resolves once a tool waits at `name`. */
  reached(name: string): Promise<void> {
    return this.#get(name).reachedP;
  }
}

type Notify = (notification: { method: string; params: Record<string, unknown> }) => Promise<void>;
interface PollingExtra {
  sendNotification: Notify;
  closeSSEStream?: () => void;
  closeStandaloneSSEStream?: () => void;
}

/** A logging notification whose data is `text`: how the tools below report each step. */
export function logged(text: string) {
  return { method: 'notifications/message', params: { level: 'info', data: text } };
}

/**
 * The test server (SDK v1) plus tools that pause:
 * - `steps({ name, count })`: for each step i, sends the related log `"<name> <i>"`, then waits at gate `"<name> <i>"`;
 *   returns `"<name> done"`.
 * - `poll({ name })`: sends the related log `"<name> polling"`, ends its own stream with `closeSSEStream()` (as a
 *   server asking a 2025-11-25 client to poll), waits at gate `name`, returns `"<name> done"`; when the transport
 *   offers no `closeSSEStream` (older clients) it returns `"no closeSSEStream"` at once.
 * - `poll-standalone`: ends the session's standalone stream with `closeStandaloneSSEStream()`; returns `"closed"`.
 * Every server built is kept in `servers` by session id, so the test can make it send list-changed or logs.
 */
export function pausingServer(session: SessionContext, gates: Gates, servers?: Map<string, McpServer>): McpServer {
  const server = buildServerV1(session);
  servers?.set(session.sessionId!, server);
  server.registerTool('steps', { inputSchema: { name: z.string(), count: z.number() } }, async ({ name, count }, extra) => {
    for (let step = 1; step <= count; step++) {
      await (extra as unknown as PollingExtra).sendNotification(logged(`${name} ${step}`));
      await gates.pass(`${name} ${step}`);
    }
    return { content: [{ type: 'text', text: `${name} done` }] };
  });
  server.registerTool('poll', { inputSchema: { name: z.string() } }, async ({ name }, extra) => {
    const polling = extra as unknown as PollingExtra;
    if (polling.closeSSEStream === undefined) return { content: [{ type: 'text', text: 'no closeSSEStream' }] };
    await polling.sendNotification(logged(`${name} polling`));
    polling.closeSSEStream();
    await gates.pass(name);
    return { content: [{ type: 'text', text: `${name} done` }] };
  });
  server.registerTool('poll-standalone', { inputSchema: {} }, async (_args, extra) => {
    const polling = extra as unknown as PollingExtra;
    polling.closeStandaloneSSEStream?.();
    return { content: [{ type: 'text', text: polling.closeStandaloneSSEStream === undefined ? 'no closeStandaloneSSEStream' : 'closed' }] };
  });
  return server;
}

/** The text of a `tools/call` result message. */
export function toolText(message: Record<string, unknown> | undefined): string | undefined {
  const content = (message?.result as { content?: { text?: string }[] } | undefined)?.content;
  return content?.[0]?.text;
}

/**
 * Resumes a stream with `GET` + `Last-Event-ID`, as a client does after a drop. The server may not have seen the
 * old connection close yet (a 409 then), so this retries a 409 a few times, as a client waiting `retry:` would.
 */
export async function resumeStream(session: RawSession, lastEventId: string, attempts = 40): Promise<RawStream> {
  for (let attempt = 1; ; attempt++) {
    const stream = await session.listen(lastEventId);
    if (stream.status !== 409 || attempt === attempts) return stream;
    await stream.done;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** The id of the last event received on `stream` (priming events included). */
export function lastIdOf(stream: RawStream): string {
  const id = stream.events.findLast((e) => e.id !== undefined)?.id;
  if (id === undefined) throw new Error(`no event id received yet: ${JSON.stringify(stream.text)}`);
  return id;
}

/** Resolves once a logging notification with `text` arrived on `stream`. */
export function untilLogged(stream: RawStream, text: string, timeoutMs = 5000): Promise<void> {
  return stream.until(
    (events) => messagesOf(events).some((m) => (m.params as { data?: unknown } | undefined)?.data === text),
    timeoutMs,
    `log "${text}"`,
  );
}
