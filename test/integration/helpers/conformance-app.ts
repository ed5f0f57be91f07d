// An Express app with this package's router at /mcp serving a conformance fixture, on 127.0.0.1:0: the deployment
// the conformance suite is pointed at (Streamable HTTP at /mcp, legacy SSE at /mcp/sse).
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { createMcpSseRouter, type McpSseRouter, type McpSseRouterOptions } from '../../../lib/index.js';

export interface ConformanceApp {
  router: McpSseRouter;
  /** The Streamable HTTP endpoint, `http://127.0.0.1:<port>/mcp`. */
  url: string;
  close(): Promise<void>;
}

/**
 * The Host guard is on, as a localhost deployment should have it (the suite's dns-rebinding-protection scenario sends
 * `Host: evil.example.com` and expects a 4xx); everything else is the router's defaults.
 */
export async function startConformanceApp(
  options: Pick<McpSseRouterOptions, 'createServer'> & Partial<McpSseRouterOptions>,
): Promise<ConformanceApp> {
  const router = createMcpSseRouter({ allowedHosts: ['127.0.0.1', 'localhost', '[::1]'], ...options });
  const app = express();
  app.use('/mcp', router);
  const server = await new Promise<Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const { port } = server.address() as AddressInfo;
  return {
    router,
    url: `http://127.0.0.1:${port}/mcp`,
    async close() {
      await router.close({ timeoutMs: 2000 });
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
