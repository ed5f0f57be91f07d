// The example app: an ordinary Express app that serves the example MCP server over SSE at /mcp.
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

const mcp = createMcpSseRouter({
  createServer: (session) => buildMcpServer(session),
  auth: authFromEnv(),
  cors: process.env.CORS_ORIGINS ? { origin: process.env.CORS_ORIGINS.split(',') } : false,
  bus: await busFromEnv(),
  allowedHosts: host === '127.0.0.1' || host === 'localhost' ? ['127.0.0.1', 'localhost', '[::1]'] : undefined,
  onError: (error, { sessionId }) => console.warn(`[mcp] ${error.code}: ${error.message}${sessionId ? ` (session ${sessionId})` : ''}`),
});
motd.onChange = () => mcp.sessions.broadcast({ method: 'notifications/resources/list_changed' });

const app = express();
app.use(express.static(fileURLToPath(new URL('./public/', import.meta.url))));
app.get('/health', (_req, res) => res.json({ status: 'ok', sessions: mcp.sessions.stats() }));
if (process.env.EXAMPLE_TEST_HOOKS === '1') {
  // Test only: POST /__test/cut-streams destroys every open SSE socket, as a flaky network would.
  const sseSockets = new Set();
  app.use('/mcp/sse', (req, res, next) => {
    sseSockets.add(req.socket);
    res.on('close', () => sseSockets.delete(req.socket));
    next();
  });
  app.post('/__test/cut-streams', (_req, res) => {
    const cut = sseSockets.size;
    for (const socket of sseSockets) socket.destroy();
    sseSockets.clear();
    res.json({ cut });
  });
}
app.use('/mcp', mcp);

const server = app.listen(port, host, () => {
  const { port: actual } = server.address();
  const base = `http://${host === '0.0.0.0' ? 'localhost' : host}:${actual}`;
  console.log(`MCP over SSE at ${base}/mcp/sse  (console: ${base}/)`);
  const key = process.env.API_KEY ? ' -H "X-API-Key: $API_KEY"' : '';
  console.log(`Try it:  curl -N ${base}/mcp/sse${key}`);
  console.log(`then, in another terminal, POST to the URL of the "endpoint" event:`);
  console.log(`  curl -X POST '${base}/mcp/messages?sessionId=<id>'${key} -H 'Content-Type: application/json' \\`);
  console.log(`    -d '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2024-11-05","capabilities":{},"clientInfo":{"name":"curl","version":"1"}}}'`);
});

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
