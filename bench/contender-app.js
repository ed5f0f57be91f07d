// bench/contender-app.js: builds one contender's Express app (names in bench/contenders.js), for its own process
// (bench/server.js) or in-process (bench/instructions.js, which counts instructions under valgrind).
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import express from 'express';
import { buildServer, loadBuildServerV2 } from './mcp-server.js';
import { CeilingTransport } from './ceiling-transport.js';
import { parseContender } from './contenders.js';
import { BENCH_KEY, handWiredGuards, securedParts } from './hand-wired.js';

/**
 * `{ app, sessions }`: the contender's app serving its transport under `/mcp`, and what the control routes need
 * from it (count, look up, broadcast the way its users would). Throws for an unknown contender.
 */
export async function createContender(contender) {
  // A variant (`pkg-streamable~name`, see bench/contenders.js) is its base contender with options of its own.
  const { base, variant = {} } = parseContender(contender);
  const app = express();
  app.disable('x-powered-by');

  /** What the control routes need from a contender: count, look up, broadcast the way its users would. */
  let sessions;

  if (base.startsWith('pkg')) {
    // pkg and pkg-streamable are the same router with its defaults (it serves both transports); they differ in
    // what the load client speaks to them. The -secured ones add auth, CORS and rate limits on every route.
    const { dist, otel, mount = '/mcp', ...variantOptions } = variant;
    if (otel !== undefined) await (await import('./otel.js')).setUpOtel(otel);
    const distDir = dist === undefined ? new URL('../dist/', import.meta.url) : pathToFileURL(`${path.resolve(dist)}/`);
    const { createMcpSseRouter, apiKeyStrategy } = await import(new URL('index.js', distDir).href);
    // pkg-streamable-v2 serves SDK v2's McpServer, the server sdk2-streamable has, to compare the transports alone.
    // pkg-modern serves it too: 2026-07-28 requests need a v2 server (the router then builds one per request).
    const build = base === 'pkg-streamable-v2' || base === 'pkg-modern' ? await loadBuildServerV2() : buildServer;
    const options = { createServer: () => build() };
    if (base === 'pkg-redis' || base === 'pkg-streamable-redis') {
      // Phase g: two instances share sessions through Redis (BENCH_REDIS_URL, set by the runner).
      const { redisSessionBus } = await import(new URL('redis.js', distDir).href);
      options.bus = redisSessionBus({ url: process.env.BENCH_REDIS_URL, prefix: process.env.BENCH_REDIS_PREFIX });
    }
    if (base === 'pkg-secured' || base === 'pkg-streamable-secured') {
      const parts = securedParts();
      if (parts.includes('auth')) options.auth = { strategies: [apiKeyStrategy({ keys: [BENCH_KEY] })] };
      if (parts.includes('cors')) options.cors = { origin: ['http://example.test'] };
      if (parts.includes('rate')) {
        options.rateLimit = {
          sse: { windowMs: 60_000, limit: 1e9 },
          messages: { windowMs: 60_000, limit: 1e9 },
          mcp: { windowMs: 60_000, limit: 1e9 },
        };
      }
    }
    // Only a quick (smoke) run shortens the resume window, so that churn need not wait 30 s for detached sessions.
    if (process.env.BENCH_PKG_RESUME_MS) options.resumeWindowMs = Number(process.env.BENCH_PKG_RESUME_MS);
    Object.assign(options, variantOptions);
    const router = createMcpSseRouter(options);
    app.use(mount, router);
    sessions = {
      count: () => router.sessions.size,
      stats: () => router.sessions.stats?.(),
      get: (id) => router.sessions.get(id),
      broadcast: (notification) => {
        router.sessions.broadcast({ method: notification.method, params: notification.params });
        return router.sessions.size;
      },
    };
  } else if (base === 'sdk' || base === 'sdk-secured') {
    // Exactly the SDK README's HTTP+SSE example, on Express 5, with no body parser in front. sdk-secured puts
    // cors, Passport's authenticate() and one rate limiter per route in front of it, as a user wires them by hand.
    const { SSEServerTransport } = await import('@modelcontextprotocol/sdk/server/sse.js');
    const transports = new Map();
    const guards = base === 'sdk-secured' ? handWiredGuards(['GET', 'POST']) : undefined;
    const guarded = (route) => (guards === undefined ? [] : guards.chain(route));
    app.get('/mcp/sse', ...guarded('sse'), async (req, res) => {
      const transport = new SSEServerTransport('/mcp/messages', res);
      transports.set(transport.sessionId, transport);
      res.on('close', () => {
        transports.delete(transport.sessionId);
      });
      const server = buildServer();
      await server.connect(transport);
    });
    app.post('/mcp/messages', ...guarded('messages'), async (req, res) => {
      const sessionId = req.query.sessionId;
      const transport = transports.get(sessionId);
      if (transport) {
        await transport.handlePostMessage(req, res);
      } else {
        res.status(400).send('No transport found for sessionId');
      }
    });
    sessions = mapSessions(transports);
  } else if (base === 'sdk1-streamable' || base === 'sdk1-streamable-secured') {
    // The SDK v1 README's stateful Streamable HTTP example on Express 5: express.json(), a Map of transports keyed
    // by session id (filled in onsessioninitialized, emptied in onclose), one route per method.
    // sdk1-streamable-secured puts cors, Passport's authenticate() and one rate limiter in front of /mcp.
    const { StreamableHTTPServerTransport } = await import('@modelcontextprotocol/sdk/server/streamableHttp.js');
    const { isInitializeRequest } = await import('@modelcontextprotocol/sdk/types.js');
    const transports = new Map();
    app.use(express.json());
    if (base === 'sdk1-streamable-secured') {
      const guards = handWiredGuards(['GET', 'POST', 'DELETE']);
      app.use('/mcp', ...guards.chain('mcp'));
    }
    app.post('/mcp', async (req, res) => {
      const sessionId = req.headers['mcp-session-id'];
      let transport;
      if (sessionId && transports.has(sessionId)) {
        transport = transports.get(sessionId);
      } else if (!sessionId && isInitializeRequest(req.body)) {
        transport = new StreamableHTTPServerTransport({
          sessionIdGenerator: () => randomUUID(),
          onsessioninitialized: (id) => {
            transports.set(id, transport);
          },
        });
        transport.onclose = () => {
          if (transport.sessionId) transports.delete(transport.sessionId);
        };
        await buildServer().connect(transport);
      } else {
        res.status(400).json({ jsonrpc: '2.0', error: { code: -32000, message: 'Bad Request: No valid session ID provided' }, id: null });
        return;
      }
      await transport.handleRequest(req, res, req.body);
    });
    const handleSessionRequest = async (req, res) => {
      const sessionId = req.headers['mcp-session-id'];
      if (!sessionId || !transports.has(sessionId)) {
        res.status(400).send('Invalid or missing session ID');
        return;
      }
      await transports.get(sessionId).handleRequest(req, res);
    };
    app.get('/mcp', handleSessionRequest);
    app.delete('/mcp', handleSessionRequest);
    sessions = mapSessions(transports);
  } else if (base === 'sdk2-streamable') {
    // SDK v2: @modelcontextprotocol/node's NodeStreamableHTTPServerTransport serving a v2 McpServer, routed by
    // session id as the SDK's "Sessions, state, and scaling" guide does, behind express.json() (which is what
    // createMcpExpressApp() installs; its localhost Host/Origin guard is left out, as no other contender has one).
    const { NodeStreamableHTTPServerTransport } = await import('@modelcontextprotocol/node');
    const { isInitializeRequest } = await import('@modelcontextprotocol/server');
    const buildServerV2 = await loadBuildServerV2();
    const transports = new Map();
    app.use(express.json());
    const route = async (req, res) => {
      const sessionId = req.headers['mcp-session-id'];
      if (sessionId && transports.has(sessionId)) {
        await transports.get(sessionId).handleRequest(req, res, req.body);
        return;
      }
      if (!sessionId && isInitializeRequest(req.body)) {
        const transport = new NodeStreamableHTTPServerTransport({
          sessionIdGenerator: () => randomUUID(),
          onsessioninitialized: (id) => {
            transports.set(id, transport);
          },
        });
        transport.onclose = () => {
          if (transport.sessionId) transports.delete(transport.sessionId);
        };
        await buildServerV2().connect(transport);
        await transport.handleRequest(req, res, req.body);
        return;
      }
      if (sessionId) {
        res.status(404).json({ jsonrpc: '2.0', error: { code: -32001, message: 'Session not found' }, id: null });
        return;
      }
      res.status(400).json({ jsonrpc: '2.0', error: { code: -32000, message: 'Bad Request: Session ID required' }, id: null });
    };
    app.post('/mcp', route);
    app.get('/mcp', route);
    app.delete('/mcp', route);
    sessions = mapSessions(transports);
  } else if (base === 'sdk2-modern') {
    // SDK v2's own entry for the 2026-07-28 era: createMcpHandler() with a server factory (a fresh v2 McpServer per
    // request, as the router builds one), mounted on Express through @modelcontextprotocol/node's toNodeHandler(),
    // which reads the body itself (no body parser). Defaults otherwise (its `legacy: 'stateless'` leg is never hit).
    const { createMcpHandler } = await import('@modelcontextprotocol/server');
    const { toNodeHandler } = await import('@modelcontextprotocol/node');
    const buildServerV2 = await loadBuildServerV2();
    const handler = createMcpHandler(() => buildServerV2());
    app.all('/mcp', toNodeHandler(handler));
    sessions = { count: () => 0, get: () => undefined, broadcast: () => 0 };
  } else if (base === 'ceiling') {
    const transports = new Map();
    app.get('/mcp/sse', async (req, res) => {
      const transport = new CeilingTransport('/mcp/messages', res);
      transports.set(transport.sessionId, transport);
      res.on('close', () => transports.delete(transport.sessionId));
      await buildServer().connect(transport);
    });
    app.post('/mcp/messages', (req, res) => {
      const transport = transports.get(req.query.sessionId);
      if (!transport) {
        res.writeHead(404).end();
        return;
      }
      const chunks = [];
      req.on('data', (chunk) => chunks.push(chunk));
      req.on('end', () => {
        let message;
        try {
          message = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        } catch {
          res.writeHead(400).end();
          return;
        }
        for (const m of Array.isArray(message) ? message : [message]) transport.onmessage?.(m);
        res.writeHead(202).end();
      });
    });
    sessions = mapSessions(transports);
  } else {
    throw new TypeError(`unknown contender ${contender}`);
  }

  return { app, sessions };
}

/** Sessions kept in a Map of transports: broadcast is a loop calling `transport.send()`, as a user would write it. */
function mapSessions(transports) {
  return {
    count: () => transports.size,
    get: (id) => transports.get(id),
    broadcast: (notification) => {
      const message = { jsonrpc: '2.0', ...notification };
      let n = 0;
      for (const transport of transports.values()) {
        transport.send(message).catch(() => {});
        n++;
      }
      return n;
    },
  };
}
