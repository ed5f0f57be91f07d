// bench/mcp-server.js: the one MCP server every contender serves (SDK v1 McpServer with an `echo` tool).
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import * as z from 'zod';

/** A fresh McpServer with the `echo` tool; `logging` is declared so `notifications/message` may be sent. */
export function buildServer() {
  const server = new McpServer(
    { name: 'bench', version: '1.0.0' },
    { capabilities: { logging: {} } },
  );
  server.registerTool(
    'echo',
    { description: 'Returns its text argument', inputSchema: { text: z.string() } },
    async ({ text }) => ({ content: [{ type: 'text', text }] }),
  );
  return server;
}
