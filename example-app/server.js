// The example app: an ordinary Express app serving the example MCP server at /mcp over both transports (Streamable
// HTTP at /mcp, legacy HTTP+SSE at /mcp/sse) and the browser console at /.
import express from 'express';
import { fileURLToPath } from 'node:url';
import { createMcpSseRouter, apiKeyStrategy, jwtStrategy } from 'express-mcp-sse';
import { buildMcpServer, motd } from './mcp-server.js';

const port = Number(process.env.PORT ?? 3000);
const host = process.env.HOST ?? '127.0.0.1';

/** API_KEY and/or JWT_SECRET turn auth on; without them the example is open (fine on localhost). */
function authFromEnv() {
  const strategies = [];
  if (process.env.API_KEY) strategies.push(apiKeyStrategy({ keys: { [process.env.API_KEY]: 'api-key-user' }, queryParameter: 'api_key' }));
  if (process.env.JWT_SECRET) strategies.push(jwtStrategy({ secret: process.env.JWT_SECRET, queryParameter: 'access_token' }));
  return strategies.length > 0 ? { strategies } : undefined;
}

async function busFromEnv() {
  if (!process.env.REDIS_URL) return undefined;
  const { redisSessionBus } = await import('express-mcp-sse/redis');
  return redisSessionBus({ url: process.env.REDIS_URL });
}

/** The router from the environment; a setting the package refuses (API_KEY=short) ends the process with its message. */
async function routerFromEnv() {
  try {
    return createMcpSseRouter({
      createServer: (session) => buildMcpServer(session),
      auth: authFromEnv(),
      cors: process.env.CORS_ORIGINS ? { origin: process.env.CORS_ORIGINS.split(',') } : false,
      bus: await busFromEnv(),
      allowedHosts: host === '127.0.0.1' || host === 'localhost' ? ['127.0.0.1', 'localhost', '[::1]'] : undefined,
      onError: (error, { sessionId }) => console.warn(`[mcp] ${error.code}: ${error.message}${sessionId ? ` (session ${sessionId})` : ''}`),
    });
  } catch (error) {
    if (error?.code !== 'ERR_MCP_SSE_INVALID_OPTION' && error?.code !== 'ERR_MCP_SSE_MISSING_DEPENDENCY') throw error;
    console.error(`Cannot start: ${error.message}`);
    process.exit(1);
  }
}

const mcp = await routerFromEnv();
motd.onChange = () => mcp.sessions.broadcast({ method: 'notifications/resources/list_changed' });

const app = express();
app.use(express.static(fileURLToPath(new URL('./public/', import.meta.url))));
// Readiness probe: 200 { status: 'ok', sessions, bus }, 503 while draining or with Redis down.
app.get('/health', mcp.health);
if (process.env.EXAMPLE_TEST_HOOKS === '1') {
  // Test only: POST /__test/cut-streams destroys open event streams, as a flaky network would. It cuts every kind
  // unless `?only=` names some: `sse` (legacy GET /mcp/sse), `get` (Streamable HTTP GET /mcp: the standalone stream
  // or a resumed one) and `post` (the event streams answering POSTs to /mcp).
  /** Open responses that may be event streams, by kind. */
  const streams = new Map();
  app.use('/mcp', (req, res, next) => {
    const kind =
      req.path === '/sse' ? 'sse' : req.path === '/' && (req.method === 'GET' || req.method === 'POST') ? req.method.toLowerCase() : undefined;
    if (kind !== undefined) {
      streams.set(res, kind);
      res.on('close', () => streams.delete(res));
    }
    next();
  });
  app.post('/__test/cut-streams', (req, res) => {
    const only = typeof req.query.only === 'string' ? req.query.only.split(',') : ['sse', 'get', 'post'];
    const cut = { sse: 0, get: 0, post: 0 };
    for (const [stream, kind] of streams) {
      // A stream has sent its 200 head; a POST answered 202 or still being read is no stream to cut.
      if (!only.includes(kind) || !stream.headersSent || stream.statusCode !== 200) continue;
      stream.socket?.destroy();
      streams.delete(stream);
      cut[kind]++;
    }
    res.json({ cut: cut.sse + cut.get + cut.post, ...cut });
  });
}
app.use('/mcp', mcp);

// Express 5 calls back with the listen error (and emits it); Express 4 only emits it.
const server = app.listen(port, host, (error) => {
  if (error) return cannotListen(error);
  const { port: actual } = server.address();
  const base = `http://${host === '0.0.0.0' ? 'localhost' : host}:${actual}`;
  const key = process.env.API_KEY ? ' -H "X-API-Key: $API_KEY"' : '';
  const json = `-H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream'${key}`;
  console.log(`MCP example app on ${base}  (browser console: ${base}/)`);
  console.log(`  Streamable HTTP at ${base}/mcp       for modern clients (MCP 2025-03-26 and later)`);
  console.log(`  HTTP+SSE        at ${base}/mcp/sse   for legacy clients (MCP 2024-11-05)`);
  console.log('Try Streamable HTTP with curl. Initialize; -i shows the Mcp-Session-Id response header:');
  console.log(`  curl -i ${base}/mcp ${json} \\`);
  console.log(
    `    -d '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"curl","version":"1"}}}'`,
  );
  console.log('then call a tool in that session; -N prints the event stream (progress, then the result) as it arrives:');
  console.log(`  curl -N ${base}/mcp ${json} -H 'Mcp-Session-Id: <id>' -H 'MCP-Protocol-Version: 2025-11-25' \\`);
  console.log(
    `    -d '{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"countdown","arguments":{"from":3},"_meta":{"progressToken":1}}}'`,
  );
  console.log(`and end the session:  curl -X DELETE ${base}/mcp -H 'Mcp-Session-Id: <id>'${key}`);
  console.log(`Legacy HTTP+SSE:  curl -N ${base}/mcp/sse${key}  then POST JSON-RPC to the URL of its "endpoint" event.`);
});
server.on('error', cannotListen);

let failed = false;
/** A port already taken (another copy running) or not ours to take: say so and exit non-zero, no stack trace. */
async function cannotListen(error) {
  if (failed) return;
  failed = true;
  const where = `${host}:${port}`;
  if (error.code === 'EADDRINUSE') console.error(`Port ${port} is already in use on ${host}: stop what holds it, or start with PORT=<another port>.`);
  else if (error.code === 'EACCES') console.error(`No permission to listen on ${where}: use a port above 1023, e.g. PORT=3000.`);
  else console.error(`Cannot listen on ${where}: ${error.message}`);
  await mcp.close({ timeoutMs: 1000 });
  process.exit(1);
}

let stopping = false;
async function shutdown(signal) {
  if (stopping) return;
  stopping = true;
  console.log(`${signal}: closing MCP sessions, then the HTTP server`);
  await mcp.close({ timeoutMs: 5000 });
  server.close(() => process.exit(0));
  server.closeAllConnections();
}
process.on('SIGINT', () => void shutdown('SIGINT'));
process.on('SIGTERM', () => void shutdown('SIGTERM'));
