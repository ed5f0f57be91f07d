// An Express app in TypeScript serving one MCP server per session at /mcp (Streamable HTTP, 2026-07-28 requests and
// HTTP+SSE), optionally behind an API key, and draining on SIGTERM.
import express from 'express';
import type { AddressInfo } from 'node:net';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import { apiKeyStrategy, createMcpSseRouter, mcpBodyErrorHandler, type McpSseError, type SessionContext } from 'express-mcp-sse';

/** One MCP server per session: its tools can use what the session knows about the caller. */
function buildMcpServer(session: SessionContext): McpServer {
  const server = new McpServer({ name: 'typescript-example', version: '1.0.0' });
  server.registerTool('add', { description: 'Adds two numbers.', inputSchema: { a: z.number(), b: z.number() } }, async ({ a, b }) => ({
    content: [{ type: 'text', text: String(a + b) }],
  }));
  server.registerTool('whoami', { description: 'Who is calling, over which transport.' }, async () => ({
    content: [{ type: 'text', text: `${session.user?.id ?? 'anonymous'} over ${session.transport}` }],
  }));
  return server;
}

// API_KEY turns authentication on; the key is read into a checked const, so the record below has a string key.
const apiKey = process.env['API_KEY'];

const mcp = createMcpSseRouter({
  createServer: (session: SessionContext) => buildMcpServer(session),
  ...(apiKey ? { auth: { strategies: [apiKeyStrategy({ keys: { [apiKey]: 'example-user' } })] } } : {}),
  allowedHosts: ['127.0.0.1', 'localhost'],
  onError: (error: McpSseError, { sessionId }) => console.error(`[mcp] ${error.code} ${sessionId ?? ''}: ${error.message}`),
});

const app = express();
app.use(express.json({ limit: '4mb' })); // the app's own routes; a limit of at least maxMessageSize for MCP bodies
app.use('/mcp', mcp);
app.use('/mcp', mcpBodyErrorHandler()); // what the parser refuses on /mcp answers as JSON-RPC
app.get('/stats', (_req, res) => {
  res.json(mcp.sessions.stats());
});

const server = app.listen(Number(process.env['PORT'] ?? 3000), '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  console.log(`listening on http://127.0.0.1:${port}/mcp`);
});

process.on('SIGTERM', async () => {
  await mcp.close({ timeoutMs: 5000 });
  server.close();
});
