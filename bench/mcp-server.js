// bench/mcp-server.js: the one MCP server every contender serves: an `echo` tool, as an SDK v1 or an SDK v2 McpServer.
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import * as z from 'zod';

const info = { name: 'bench', version: '1.0.0' };
// `logging` is declared so `notifications/message` (broadcast, flood) may be sent.
const options = { capabilities: { logging: {} } };
const echo = async ({ text }) => ({ content: [{ type: 'text', text }] });

/** A fresh SDK v1 McpServer with the `echo` tool: what every contender but sdk2-streamable serves. */
export function buildServer() {
  const server = new McpServer(info, options);
  server.registerTool('echo', { description: 'Returns its text argument', inputSchema: { text: z.string() } }, echo);
  return server;
}

/**
 * The same server on SDK v2's McpServer, for sdk2-streamable (its transport takes v2 servers). Loaded only by the
 * contenders that serve it, so the others do not pay for loading SDK v2 at start-up (valgrind runs are slow).
 */
export async function loadBuildServerV2() {
  const { McpServer: McpServerV2 } = await import('@modelcontextprotocol/server');
  return () => buildServerV2(McpServerV2);
}

function buildServerV2(McpServerV2) {
  const server = new McpServerV2(info, options);
  server.registerTool('echo', { description: 'Returns its text argument', inputSchema: z.object({ text: z.string() }) }, echo);
  return server;
}
