// The example MCP server: a few useful tools, a resource whose changes are broadcast, and a whoami tool.
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';

/** State shared by every session: the message of the day, which any client can change. */
export const motd = { text: 'Hello from express-mcp-sse!', onChange: () => {} };

/** Builds one MCP server for one session; `session` is the package's SessionContext. */
export function buildMcpServer(session) {
  const server = new McpServer(
    { name: 'express-mcp-sse-example', version: '0.1.0' },
    { capabilities: { logging: {}, resources: { listChanged: true } } },
  );

  server.registerTool(
    'echo',
    { description: 'Echoes the text back.', inputSchema: { text: z.string().describe('Text to echo') } },
    async ({ text }) => ({ content: [{ type: 'text', text }] }),
  );

  server.registerTool('add', { description: 'Adds two numbers.', inputSchema: { a: z.number(), b: z.number() } }, async ({ a, b }) => ({
    content: [{ type: 'text', text: String(a + b) }],
  }));

  server.registerTool('time', { description: "The server's current time (ISO 8601).", inputSchema: {} }, async () => ({
    content: [{ type: 'text', text: new Date().toISOString() }],
  }));

  server.registerTool(
    'countdown',
    {
      description: 'Counts down from `from` to zero, one step every `intervalMs`, reporting progress and logging each step.',
      inputSchema: { from: z.number().int().min(1).max(100).default(5), intervalMs: z.number().int().min(0).max(5000).default(500) },
    },
    async ({ from, intervalMs }, extra) => {
      const progressToken = extra._meta?.progressToken;
      for (let step = 1; step <= from; step++) {
        await new Promise((resolve) => setTimeout(resolve, intervalMs));
        if (extra.signal.aborted) throw new Error('countdown cancelled');
        const left = from - step;
        // Sent as part of this call, so on Streamable HTTP it travels on the call's own stream, before the result.
        await extra.sendNotification({ method: 'notifications/message', params: { level: 'info', logger: 'countdown', data: `${left}…` } });
        if (progressToken !== undefined) {
          await extra.sendNotification({
            method: 'notifications/progress',
            params: { progressToken, progress: step, total: from, message: `${left} left` },
          });
        }
      }
      return { content: [{ type: 'text', text: 'Liftoff!' }] };
    },
  );

  server.registerTool(
    'whoami',
    { description: 'Who is calling: the authenticated principal, or anonymous.', inputSchema: {} },
    async (_args, extra) => {
      const who = extra.authInfo ? { clientId: extra.authInfo.clientId, scopes: extra.authInfo.scopes } : { clientId: 'anonymous' };
      return { content: [{ type: 'text', text: JSON.stringify({ ...who, sessionId: session.sessionId }) }] };
    },
  );

  server.registerResource('motd', 'example://motd', { title: 'Message of the day', mimeType: 'text/plain' }, async (uri) => ({
    contents: [{ uri: uri.href, text: motd.text }],
  }));

  server.registerTool(
    'set_motd',
    {
      description: 'Changes the message of the day; every connected client is told the resources changed.',
      inputSchema: { text: z.string().min(1).max(500) },
    },
    async ({ text }) => {
      motd.text = text;
      motd.onChange();
      return { content: [{ type: 'text', text: `Message of the day is now: ${text}` }] };
    },
  );

  return server;
}
