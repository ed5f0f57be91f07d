// Closes a per-request (2026-07-28) MCP server exactly once, whether the router or the SDK's handler asks first.
import type { ServerLike } from '../../types.js';

/**
 * Makes `server.close()` idempotent and returns it: the first call closes the server, later calls (the SDK's own
 * `product.close()` for a listen stream or a refused tool call, then the router's at the end of the request) share
 * the first one's promise. The method is replaced on the instance because the SDK must receive the user's object
 * itself (it checks `instanceof McpServer`), so a wrapper object cannot stand in for it. Never rejects: a failure
 * goes to `onFailure` once.
 */
export function closeOnce(server: ServerLike, onFailure: (error: unknown) => void): () => Promise<void> {
  const original = server.close;
  if (typeof original !== 'function') return () => Promise.resolve();
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      try {
        await original.call(server);
      } catch (error) {
        onFailure(error);
      }
    })();
    return closing;
  };
  try {
    server.close = close;
  } catch {
    // A frozen server keeps its own close(): the SDK may then close it a second time, which MCP servers tolerate.
  }
  return close;
}
