// Test helpers for the OAuth suites: an Express app whose router is an OAuth resource server at a prefix mount behind
// express.json(), and SDK v1 / v2 clients that discover everything from a 401 with only a client id and secret.
import express, { type Express } from 'express';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Strategy } from 'passport';
import { Client as ClientV1 } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport as SSEClientTransportV1 } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPClientTransport as StreamableV1 } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ClientCredentialsProvider as ClientCredentialsProviderV1 } from '@modelcontextprotocol/sdk/client/auth-extensions.js';
import {
  Client as ClientV2,
  SSEClientTransport as SSEClientTransportV2,
  StreamableHTTPClientTransport as StreamableV2,
  ClientCredentialsProvider as ClientCredentialsProviderV2,
} from '@modelcontextprotocol/client';
import {
  createMcpSseRouter,
  oauthStrategy,
  type McpSseRouter,
  type McpSseRouterOptions,
  type OAuthStrategyOptions,
  type SessionContext,
} from '../../lib/index.js';
import { buildServerV1 } from '../helpers/server.js';
import type { AuthorizationServer, TestClient } from './authorization-server.js';

export interface OAuthApp {
  app: Express;
  router: McpSseRouter;
  server: Server;
  baseUrl: string;
  /** The resource identifier: `${baseUrl}${mountPath}` (`${baseUrl}/` at the root). */
  resource: string;
  sseUrl: string;
  messagesUrl: string;
  /** Sessions opened, with what createServer() saw. */
  sessions: SessionContext[];
  close(): Promise<void>;
}

export interface OAuthAppOptions {
  as: AuthorizationServer;
  mountPath?: string;
  /** Extra oauthStrategy options (issuer and resource are filled in). */
  oauth?: Partial<OAuthStrategyOptions>;
  /** The strategies, given the OAuth one; defaults to only it. */
  strategies?: (oauth: Strategy) => Strategy[];
  router?: Partial<McpSseRouterOptions>;
}

/** Listens first (the resource identifier needs the port), then mounts `wellKnown` at the root and the router. */
export async function startOAuthApp(options: OAuthAppOptions): Promise<OAuthApp> {
  const { as, mountPath = '/api/mcp' } = options;
  const app = express();
  const server = await new Promise<Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const prefix = mountPath === '/' ? '' : mountPath;
  const resource = `${baseUrl}${prefix || '/'}`;
  const oauth = oauthStrategy({ issuer: as.issuer, resource, ...options.oauth });
  const sessions: SessionContext[] = [];
  const router = createMcpSseRouter({
    createServer: (session) => {
      sessions.push(session);
      const mcp = buildServerV1(session);
      mcp.registerTool('authinfo', { inputSchema: {} }, async (_args, extra) => ({
        content: [
          {
            type: 'text',
            text: JSON.stringify({
              ...extra.authInfo,
              resource: extra.authInfo?.resource?.href,
              resourceIsUrl: extra.authInfo?.resource instanceof URL,
            }),
          },
        ],
      }));
      return mcp;
    },
    auth: { strategies: options.strategies?.(oauth) ?? [oauth] },
    ...options.router,
  });
  app.use(express.json());
  app.use(router.wellKnown);
  app.use(mountPath, router);
  return {
    app,
    router,
    server,
    baseUrl,
    resource,
    sseUrl: `${baseUrl}${prefix}/sse`,
    messagesUrl: `${baseUrl}${prefix}/messages`,
    sessions,
    async close() {
      await router.close({ timeoutMs: 2000 });
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export type AnyClient = ClientV1 | ClientV2;

/** A URL ending in `/sse` is the HTTP+SSE stream; anything else the Streamable HTTP endpoint. */
const isSse = (url: string) => new URL(url).pathname.endsWith('/sse');

/**
 * An SDK v1 client with a client id and secret: it finds the authorization server from the 401 by itself. SDK v1's
 * ClientCredentialsProvider requests only the `scope` it was given (not the challenge's), hence `scope`.
 */
export async function connectV1(url: string, as: AuthorizationServer, who: TestClient = as.client, scope?: string): Promise<ClientV1> {
  const authProvider = new ClientCredentialsProviderV1({
    clientId: who.clientId,
    clientSecret: who.clientSecret,
    expectedIssuer: as.issuer,
    ...(scope === undefined ? {} : { scope }),
  });
  const client = new ClientV1({ name: 'oauth-v1', version: '1.0.0' });
  await client.connect(isSse(url) ? new SSEClientTransportV1(new URL(url), { authProvider }) : new StreamableV1(new URL(url), { authProvider }));
  return client;
}

/** The same with the SDK v2 client and its own client-credentials provider. */
export async function connectV2(url: string, as: AuthorizationServer, who: TestClient = as.client): Promise<ClientV2> {
  const authProvider = new ClientCredentialsProviderV2({ clientId: who.clientId, clientSecret: who.clientSecret, expectedIssuer: as.issuer });
  const client = new ClientV2({ name: 'oauth-v2', version: '2.0.0' });
  await client.connect(isSse(url) ? new SSEClientTransportV2(new URL(url), { authProvider }) : new StreamableV2(new URL(url), { authProvider }));
  return client;
}

/** Calls a tool on either SDK generation and returns its first text. */
export async function callText(client: AnyClient, name: string, args: Record<string, unknown> = {}): Promise<string> {
  const result = (await (client as ClientV1).callTool({ name, arguments: args })) as { content: { text: string }[]; isError?: boolean };
  if (result.isError) throw new Error(`tool ${name} failed: ${result.content[0]?.text}`);
  return result.content[0]!.text;
}
