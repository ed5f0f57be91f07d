// Finds the copy of the SDK v2 server package (`@modelcontextprotocol/server`) a user's server comes from, at run time.
import { createRequire } from 'node:module';

/** What the router uses of `@modelcontextprotocol/server`, structurally (it is an optional peer dependency). */
export interface SdkV2 {
  McpServer: abstract new (...args: never[]) => unknown;
  Server: abstract new (...args: never[]) => unknown;
  createMcpHandler(factory: (context: { requestInfo?: Request }) => unknown, options: Record<string, unknown>): McpHandler;
}

/** The SDK's `createMcpHandler()` result: a Web Fetch handler for 2026-07-28 requests. */
export interface McpHandler {
  fetch(request: Request, options?: { authInfo?: unknown; parsedBody?: unknown }): Promise<Response>;
  close(): Promise<void>;
}

/**
 * True for an SDK v2 server (`McpServer` or `Server`): `Server.projectCallToolResult()` is public v2 API and absent
 * from SDK v1, whose servers cannot answer 2026-07-28 requests.
 */
export function isSdkV2Server(server: unknown): boolean {
  const low = (server as { server?: unknown } | null)?.server ?? server;
  return typeof (low as { projectCallToolResult?: unknown } | null)?.projectCallToolResult === 'function';
}

const packageName = '@modelcontextprotocol/server';

/**
 * The package's ESM and CommonJS builds are two copies with two sets of classes, and the SDK serves only servers
 * of its own copy: try both, as the app may have loaded either. Each resolves to `undefined` when not installed.
 */
export const sdkV2Loaders: readonly (() => Promise<SdkV2 | undefined>)[] = [
  () =>
    import(packageName).then(
      (sdk: SdkV2) => sdk,
      () => undefined,
    ),
  async () => {
    try {
      const require = createRequire(typeof __filename === 'string' ? __filename : import.meta.url);
      return require(packageName) as SdkV2;
    } catch {
      return undefined;
    }
  },
];
