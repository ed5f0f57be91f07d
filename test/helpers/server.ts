// Test helpers: a real Express app on port 0 with the router mounted, and MCP servers built with SDK v1 and v2.
import express, { type Express } from 'express';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { McpServer as McpServerV1 } from '@modelcontextprotocol/sdk/server/mcp.js';
import { McpServer as McpServerV2 } from '@modelcontextprotocol/server';
import { z } from 'zod';
import { CreateMessageResultSchema, ElicitResultSchema } from '@modelcontextprotocol/sdk/types.js';
import { createMcpSseRouter, type McpSseRouter, type McpSseRouterOptions, type SessionContext, type SSETransport } from '../../lib/index.js';

export interface Harness {
  app: Express;
  router: McpSseRouter;
  server: Server;
  baseUrl: string;
  /** URL of the SSE endpoint under the mount prefix. */
  sseUrl: string;
  /** URL of the Streamable HTTP endpoint (the mount point itself by default). */
  mcpUrl: string;
  close(): Promise<void>;
}

export interface HarnessOptions extends Partial<McpSseRouterOptions> {
  mountPath?: string;
  /** Runs on the app before the router is mounted (e.g. express.json()). */
  before?: (app: Express) => void;
}

/** Starts a real HTTP server on 127.0.0.1:0 with the router at `mountPath` (default `/mcp`). */
export async function startHarness(options: HarnessOptions = {}): Promise<Harness> {
  const { mountPath = '/mcp', before, ...routerOptions } = options;
  const router = createMcpSseRouter({ createServer: (session) => buildServerV1(session), ...routerOptions });
  const app = express();
  before?.(app);
  app.use(mountPath, router);
  const server = await new Promise<Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const { port } = server.address() as AddressInfo;
  const baseUrl = `http://127.0.0.1:${port}`;
  return {
    app,
    router,
    server,
    baseUrl,
    sseUrl: `${baseUrl}${mountPath === '/' ? '' : mountPath}${routerOptions.ssePath ?? '/sse'}`,
    mcpUrl: mcpUrlOf(baseUrl, mountPath, routerOptions.streamableHttpPath),
    async close() {
      await router.close({ timeoutMs: 2000 });
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function mcpUrlOf(baseUrl: string, mountPath: string, path: string | false | undefined): string {
  const mount = mountPath === '/' ? '' : mountPath;
  const own = path === undefined || path === false || path === '/' ? '' : path;
  return `${baseUrl}${mount}${own}${mount + own === '' ? '/' : ''}`;
}

/** SDK v1 McpServer with the tools the tests use. */
export function buildServerV1(session?: SessionContext): McpServerV1 {
  const server = new McpServerV1({ name: 'test-v1', version: '1.0.0' }, { capabilities: { logging: {} } });
  registerTools(server as unknown as ToolHost, session);
  return server;
}

/** How often a session's server was closed and told so. */
export interface ServerCounts {
  close: number;
  onclose: number;
}

/** An SDK v1 server that records its close() calls and onclose notifications under its session id. */
export function countingServer(session: SessionContext, servers: Map<string, ServerCounts>): McpServerV1 {
  const server = buildServerV1(session);
  const counts = { close: 0, onclose: 0 };
  servers.set(session.sessionId!, counts);
  const close = server.close.bind(server);
  server.close = async () => {
    counts.close++;
    await close();
  };
  server.server.onclose = () => counts.onclose++;
  return server;
}

/** SDK v2 McpServer with the same tools. */
export function buildServerV2(session?: SessionContext): McpServerV2 {
  const server = new McpServerV2({ name: 'test-v2', version: '2.0.0' }, { capabilities: { logging: {} } });
  registerTools(server as unknown as ToolHost, session);
  return server;
}

type Notify = (n: { method: string; params: Record<string, unknown> }) => Promise<void>;
type AuthLike = { clientId: string; scopes: string[] };
/** The handler context of SDK v1 (`extra`) and SDK v2 (`ctx`), which differ in shape. */
type SendRequest = (request: { method: string; params: Record<string, unknown> }, schema: unknown) => Promise<Record<string, unknown>>;
interface ToolExtra {
  authInfo?: AuthLike;
  _meta?: { progressToken?: string | number };
  sendNotification?: Notify;
  sendRequest?: SendRequest;
  closeSSEStream?: () => void;
  mcpReq?: {
    _meta?: { progressToken?: string | number };
    notify: Notify;
    requestSampling(params: Record<string, unknown>): Promise<Record<string, unknown>>;
    elicitInput(params: Record<string, unknown>): Promise<Record<string, unknown>>;
  };
  http?: { authInfo?: AuthLike; closeSSE?: () => void };
}
const authOf = (extra: ToolExtra) => extra.authInfo ?? extra.http?.authInfo;
const progressTokenOf = (extra: ToolExtra) => extra._meta?.progressToken ?? extra.mcpReq?._meta?.progressToken;
const notifyOf = (extra: ToolExtra): Notify => extra.sendNotification ?? extra.mcpReq!.notify;
/** A server-to-client request related to the tool call, in SDK v1 (`sendRequest`) or v2 (`mcpReq`) style. */
const askClient = (extra: ToolExtra, method: 'sampling/createMessage' | 'elicitation/create', params: Record<string, unknown>) => {
  if (extra.mcpReq !== undefined)
    return method === 'sampling/createMessage' ? extra.mcpReq.requestSampling(params) : extra.mcpReq.elicitInput(params);
  return extra.sendRequest!({ method, params }, method === 'sampling/createMessage' ? CreateMessageResultSchema : ElicitResultSchema);
};
interface ToolHost {
  registerTool(name: string, config: object, cb: (args: Record<string, unknown>, extra: ToolExtra) => Promise<unknown>): void;
  sendLoggingMessage(params: object, sessionId?: string): Promise<void>;
  server: { listRoots(): Promise<{ roots: { uri: string; name?: string }[] }> };
}

function registerTools(server: ToolHost, session?: SessionContext): void {
  server.registerTool('echo', { inputSchema: { text: z.string() } }, async ({ text }) => ({ content: [{ type: 'text', text: String(text) }] }));
  server.registerTool('add', { inputSchema: { a: z.number(), b: z.number() } }, async ({ a, b }) => ({
    content: [{ type: 'text', text: String(Number(a) + Number(b)) }],
  }));
  server.registerTool('whoami', { inputSchema: {} }, async (_args, extra) => ({
    content: [
      {
        type: 'text',
        text: JSON.stringify({
          clientId: authOf(extra)?.clientId ?? null,
          scopes: authOf(extra)?.scopes ?? [],
          sessionUser: session?.user?.id ?? null,
        }),
      },
    ],
  }));
  server.registerTool('countdown', { inputSchema: { from: z.number() } }, async ({ from }, extra) => {
    const token = progressTokenOf(extra);
    const steps = Number(from);
    for (let step = 1; step <= steps; step++) {
      await server.sendLoggingMessage({ level: 'info', data: `step ${step}` });
      if (token !== undefined) {
        await notifyOf(extra)({ method: 'notifications/progress', params: { progressToken: token, progress: step, total: steps } });
      }
      // The SDK clients run notification handlers a microtask late: a result in the same TCP read as the last
      // progress would unregister the progress handler first. A pause keeps them in separate reads.
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    return { content: [{ type: 'text', text: 'done' }] };
  });
  server.registerTool('roots', { inputSchema: {} }, async () => {
    const { roots } = await server.server.listRoots();
    return { content: [{ type: 'text', text: roots.map((r) => r.uri).join(',') }] };
  });
  server.registerTool('sample', { inputSchema: { prompt: z.string() } }, async ({ prompt }, extra) => {
    const result = await askClient(extra, 'sampling/createMessage', {
      messages: [{ role: 'user', content: { type: 'text', text: String(prompt) } }],
      maxTokens: 10,
    });
    return { content: [{ type: 'text', text: (result.content as { text: string }).text }] };
  });
  server.registerTool('elicit', { inputSchema: {} }, async (_args, extra) => {
    const result = await askClient(extra, 'elicitation/create', {
      message: 'Your name?',
      requestedSchema: { type: 'object', properties: { name: { type: 'string' } }, required: ['name'] },
    });
    return { content: [{ type: 'text', text: `${String(result.action)}:${String((result.content as { name?: string } | undefined)?.name)}` }] };
  });
  // SSE polling (2025-11-25): the server ends the request's stream early; the client resumes it for the result.
  server.registerTool('poll-after', { inputSchema: { ms: z.number() } }, async ({ ms }, extra) => {
    (extra.closeSSEStream ?? extra.http?.closeSSE)?.();
    await new Promise((resolve) => setTimeout(resolve, Number(ms)));
    return { content: [{ type: 'text', text: 'polled' }] };
  });
  server.registerTool('fail', { inputSchema: {} }, async () => {
    throw new Error('tool failed on purpose');
  });
}

/** Resolves once `predicate` is true, polling; rejects after `timeoutMs`. */
export async function waitFor(predicate: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const start = Date.now();
  while (!predicate()) {
    if (Date.now() - start > timeoutMs) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** The HTTP+SSE session `sessionId` of `router`; fails the test when it is missing or of the other transport. */
export function sseSession(router: McpSseRouter, sessionId: string): SSETransport {
  const session = router.sessions.get(sessionId);
  if (session?.transport !== 'sse') throw new Error(`No HTTP+SSE session ${sessionId} (got ${session?.transport ?? 'none'}).`);
  return session;
}
