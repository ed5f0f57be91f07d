// Reference deployments of the conformance fixture on the SDKs' OWN Streamable HTTP transports (no router of ours):
// they prove the fixture right, so a failure against the router is the router's. Each listens on 127.0.0.1:0.
import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import { createMcpExpressApp } from '@modelcontextprotocol/sdk/server/express.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { NodeStreamableHTTPServerTransport, localhostHostValidation, toNodeHandler, toWebRequest } from '@modelcontextprotocol/node';
import { createMcpHandler, isLegacyRequest, type McpHttpHandler } from '@modelcontextprotocol/server';
import { createConformanceServerV1 } from '../fixtures/conformance/server-v1.js';
import { conformanceServerV2Factory } from '../fixtures/conformance/server-v2.js';

export interface ReferenceServer {
  /** The MCP endpoint, `http://127.0.0.1:<port>/mcp`. */
  url: string;
  close(): Promise<void>;
}

/** `retry:` hint the SDK transports put on their priming events (SEP-1699). */
const RETRY_MS = 1000;

/** SDK v1 `StreamableHTTPServerTransport`, stateful, one fixture server per session (`createMcpExpressApp` guards Host). */
export async function startSdkV1Reference(): Promise<ReferenceServer> {
  const app = createMcpExpressApp();
  const sessions = sessionRoutes(async () => {
    const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
      sessionIdGenerator: randomUUID,
      eventStore: new MemoryEventStore(),
      retryInterval: RETRY_MS,
      onsessioninitialized: (id) => sessions.set(id, transport),
    });
    await createConformanceServerV1().connect(transport);
    return transport;
  });
  app.all('/mcp', sessions.handle);
  return listen(app, sessions.closeAll);
}

/**
 * SDK v2, dual era: 2025 traffic on `NodeStreamableHTTPServerTransport` sessions, 2026-07-28 traffic on
 * `createMcpHandler`, split with the SDK's documented `isLegacyRequest` predicate (the SDK's own conformance setup).
 */
export async function startSdkV2Reference(): Promise<ReferenceServer> {
  let modern: McpHttpHandler | undefined;
  const createServer = conformanceServerV2Factory({ publishListChanged: (kind) => notify(modern, kind) });
  modern = createMcpHandler(() => createServer());
  const modernNode = toNodeHandler(modern);
  const sessions = sessionRoutes(async () => {
    const transport: NodeStreamableHTTPServerTransport = new NodeStreamableHTTPServerTransport({
      sessionIdGenerator: randomUUID,
      eventStore: new MemoryEventStore(),
      retryInterval: RETRY_MS,
      onsessioninitialized: (id) => sessions.set(id, transport),
    });
    await createServer().connect(transport);
    return transport;
  });
  const app = guardedJsonApp();
  app.all('/mcp', async (req, res) => {
    if (req.method === 'POST' && !(await isLegacyRequest(await toWebRequest(req, req.body), req.body))) {
      await modernNode(req, res, req.body);
      return;
    }
    await sessions.handle(req, res);
  });
  return listen(app, async () => {
    await sessions.closeAll();
    await modern?.close();
  });
}

/** SDK v2 `createMcpHandler` alone: the 2026-07-28 era, with its stateless fallback for 2025 traffic. */
export async function startSdkMcpHandlerReference(): Promise<ReferenceServer> {
  let handler: McpHttpHandler | undefined;
  const createServer = conformanceServerV2Factory({ publishListChanged: (kind) => notify(handler, kind) });
  handler = createMcpHandler(() => createServer());
  const node = toNodeHandler(handler);
  const app = guardedJsonApp();
  app.all('/mcp', (req, res) => node(req, res, req.body));
  return listen(app, () => handler.close());
}

function notify(handler: McpHttpHandler | undefined, kind: 'tools' | 'prompts'): void {
  if (kind === 'tools') handler?.notify.toolsChanged();
  else handler?.notify.promptsChanged();
}

/** Express with `express.json()` and the SDK's localhost Host guard (dns-rebinding-protection). */
function guardedJsonApp(): Express {
  const app = express();
  const allowHost = localhostHostValidation();
  app.use((req: Request, res: Response, next: NextFunction) => {
    if (allowHost(req, res)) next();
  });
  app.use(express.json());
  return app;
}

interface SessionTransport {
  onclose?: (() => void) | undefined;
  sessionId?: string | undefined;
  handleRequest(req: Request, res: Response, parsedBody?: unknown): Promise<void>;
  close(): Promise<void>;
}

/** The session map the SDK leaves to the app: initialize opens a session, the rest find theirs by Mcp-Session-Id. */
function sessionRoutes(open: () => Promise<SessionTransport>) {
  const transports = new Map<string, SessionTransport>();
  const reply = (res: Response, status: number, code: number, message: string) =>
    res.status(status).json({ jsonrpc: '2.0', id: null, error: { code, message } });
  return {
    set(id: string, transport: SessionTransport) {
      transports.set(id, transport);
      transport.onclose = () => transports.delete(id);
    },
    handle: async (req: Request, res: Response) => {
      const id = req.header('mcp-session-id');
      const existing = id === undefined ? undefined : transports.get(id);
      if (existing) return existing.handleRequest(req, res, req.body);
      if (id !== undefined) return void reply(res, 404, -32001, 'Session not found');
      if (req.method !== 'POST' || req.body?.method !== 'initialize') return void reply(res, 400, -32000, 'Bad Request: Session ID required');
      const transport = await open();
      await transport.handleRequest(req, res, req.body);
    },
    async closeAll() {
      await Promise.all([...transports.values()].map((transport) => transport.close()));
    },
  };
}

/** An in-memory EventStore: what makes the SDK transports send priming events and replay after Last-Event-ID. */
class MemoryEventStore {
  private readonly events: Array<{ eventId: string; streamId: string; message: unknown }> = [];

  async storeEvent(streamId: string, message: unknown): Promise<string> {
    const eventId = `${streamId}_${this.events.length}`;
    this.events.push({ eventId, streamId, message });
    return eventId;
  }

  async getStreamIdForEventId(eventId: string): Promise<string | undefined> {
    return this.events.find((event) => event.eventId === eventId)?.streamId;
  }

  async replayEventsAfter(lastEventId: string, { send }: { send: (eventId: string, message: never) => Promise<void> }): Promise<string> {
    const index = this.events.findIndex((event) => event.eventId === lastEventId);
    const streamId = this.events[index]?.streamId ?? '';
    for (const event of this.events.slice(index + 1)) {
      // Priming events are stored as empty messages; they carry nothing to replay.
      if (event.streamId === streamId && event.message && Object.keys(event.message).length > 0) {
        await send(event.eventId, event.message as never);
      }
    }
    return streamId;
  }
}

async function listen(app: Express, closeApp: () => Promise<void>): Promise<ReferenceServer> {
  const server = await new Promise<Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    async close() {
      await closeApp();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
