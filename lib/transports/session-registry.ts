// The router's registry: the session core's Registry over the two session kinds the transports define.
import { Registry } from '../session/registry.js';
import type { SSETransport } from './http-sse/transport.js';
import type { StreamableHTTPTransport } from './streamable-http/transport.js';

/** A session's transport object, of either kind; `transport` tells which. */
export type SessionTransport = SSETransport | StreamableHTTPTransport;

/**
 * The live sessions of one router, of both transports: `get(id)`, `size`, iteration, `broadcast()`, `close(id)`,
 * `closeAll()` and `stats()`.
 */
export class SessionRegistry extends Registry<SessionTransport> {}
