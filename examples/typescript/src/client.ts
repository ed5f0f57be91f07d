// An MCP client in TypeScript: Streamable HTTP to the example server, two tool calls, then DELETE of its session.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

const url = new URL(process.argv[2] ?? 'http://127.0.0.1:3000/mcp');
const apiKey = process.env['API_KEY'];

const transport = new StreamableHTTPClientTransport(url, apiKey ? { requestInit: { headers: { 'X-API-Key': apiKey } } } : {});
const client = new Client({ name: 'typescript-example-client', version: '1.0.0' });
await client.connect(transport);

/** The text of a tool's first content item. */
async function callText(name: string, args: Record<string, unknown>): Promise<string> {
  const result = await client.callTool({ name, arguments: args });
  const [first] = (result.content ?? []) as { type: string; text?: string }[];
  return first?.text ?? JSON.stringify(result);
}

console.log(`add: ${await callText('add', { a: 2, b: 3 })}`);
console.log(`whoami: ${await callText('whoami', {})}`);
await transport.terminateSession();
await client.close();
