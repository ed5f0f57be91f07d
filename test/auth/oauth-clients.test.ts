// The router as an OAuth 2.1 resource server, seen by real SDK clients (v1 and v2) and a real authorization server
// (oidc-provider): discovery from a 401 through a prefix mount behind express.json(), authInfo in tools,
// re-authentication after expiry in the same session, 403 insufficient_scope, challenges beside API keys, and the
// RFC 9728 document with its CORS.
import { afterEach, beforeAll, afterAll, describe, expect, it } from 'vitest';
import express from 'express';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { extractWWWAuthenticateParams, discoverOAuthProtectedResourceMetadata } from '@modelcontextprotocol/sdk/client/auth.js';
import { apiKeyStrategy, createMcpSseRouter, jwtStrategy, oauthStrategy } from '../../lib/index.js';
import { startAuthorizationServer, type AuthorizationServer } from './authorization-server.js';
import { callText, connectV1, connectV2, startOAuthApp, type AnyClient, type OAuthApp } from './oauth-app.js';
import { expectEnvelope, headersObject, secret } from './helpers.js';

let as: AuthorizationServer;
let app: OAuthApp | undefined;
const clients: AnyClient[] = [];

beforeAll(async () => {
  as = await startAuthorizationServer();
});
afterAll(() => as.close());
afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.close().catch(() => undefined)));
  await app?.close();
  app = undefined;
  as.accessTokenTTL = 300;
});

const track = <T extends AnyClient>(client: T): T => {
  clients.push(client);
  return client;
};

interface SeenAuthInfo {
  token: string;
  clientId: string;
  scopes: string[];
  expiresAt: number;
  resource: string;
  resourceIsUrl: boolean;
  extra: { issuer: string; subject: string };
}
const authInfoOf = async (client: AnyClient): Promise<SeenAuthInfo> => JSON.parse(await callText(client, 'authinfo')) as SeenAuthInfo;

/** The app's URL for a transport: the HTTP+SSE stream, or the Streamable HTTP endpoint at the mount point. */
const urlOf = (app: OAuthApp, transport: 'HTTP+SSE' | 'Streamable HTTP') =>
  transport === 'HTTP+SSE' ? app.sseUrl : app.sseUrl.replace(/\/sse$/, '');
const generations = [
  // SDK v1's ClientCredentialsProvider requests only the scope it is given; v2's takes the challenge's.
  { name: 'SDK v1 client', connect: (url: string) => connectV1(url, as, as.client, 'mcp:tools') },
  { name: 'SDK v2 client', connect: (url: string) => connectV2(url, as) },
].flatMap((generation) => (['HTTP+SSE', 'Streamable HTTP'] as const).map((transport) => ({ ...generation, transport })));

describe.each(generations)('$name over $transport with only client credentials', ({ connect, transport }) => {
  it('discovers the authorization server from the 401, gets a token for this resource, lists and calls tools', async () => {
    app = await startOAuthApp({ as, oauth: { scopes: ['mcp:tools'], resourceName: 'Test MCP' } });
    const tokensBefore = as.tokenRequests;
    const client = track(await connect(urlOf(app, transport)));
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name)).toContain('authinfo');
    expect(await callText(client, 'add', { a: 2, b: 3 })).toBe('5');
    expect(as.tokenRequests - tokensBefore).toBe(1);

    const seen = await authInfoOf(client);
    const claims = JSON.parse(Buffer.from(seen.token.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
    expect(claims).toMatchObject({ iss: as.issuer, aud: app.resource, client_id: as.client.clientId, scope: 'mcp:tools' });
    expect(seen).toMatchObject({
      clientId: as.client.clientId,
      scopes: ['mcp:tools'],
      expiresAt: claims.exp,
      resource: app.resource,
      resourceIsUrl: true,
      extra: { issuer: as.issuer, subject: as.client.clientId },
    });
    // createServer() saw the same principal and auth info.
    expect(app.sessions).toHaveLength(1);
    expect(app.sessions[0]!.user?.id).toBe(as.client.clientId);
    expect(app.sessions[0]!.authInfo?.resource).toBeInstanceOf(URL);
  });

  it('re-authenticates by itself when its token expires mid-session, and the session goes on', async () => {
    // Two seconds: a one-second token issued late in a second could expire between the GET and the initialize POST.
    as.accessTokenTTL = 2;
    app = await startOAuthApp({ as, oauth: { scopes: ['mcp:tools'] } });
    const tokensBefore = as.tokenRequests;
    const client = track(await connect(urlOf(app, transport)));
    const first = await authInfoOf(client);

    // Wait until the token is past its exp (second granularity), then call again on the same session.
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, (first.expiresAt + 1) * 1000 - Date.now()) + 50));
    const second = await authInfoOf(client);
    expect(second.token).not.toBe(first.token);
    expect(second.expiresAt).toBeGreaterThan(first.expiresAt);
    expect(as.tokenRequests - tokensBefore).toBe(2);
    // One session, one MCP server, one principal: the stream was never reopened.
    expect(app.sessions).toHaveLength(1);
    expect(app.router.sessions.size).toBe(1);
    expect(JSON.parse(await callText(client, 'whoami')).sessionUser).toBe(as.client.clientId);
  });
});

describe('RFC 6750 challenges', () => {
  it('401 without a token: resource_metadata and scope, no error; the SDK reads the challenge', async () => {
    app = await startOAuthApp({ as, oauth: { scopes: ['mcp:tools', 'mcp:admin'] } });
    for (const response of [
      await fetch(app.sseUrl),
      await fetch(`${app.messagesUrl}?sessionId=x`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: '{"jsonrpc":"2.0","id":7,"method":"ping"}',
      }),
    ]) {
      expectEnvelope({ status: response.status, headers: headersObject(response.headers), text: await response.text() }, 401, 'missing_credentials');
      expect(response.headers.get('www-authenticate')).toBe(
        `Bearer scope="mcp:tools mcp:admin", resource_metadata="${app.baseUrl}/.well-known/oauth-protected-resource/api/mcp"`,
      );
      const params = extractWWWAuthenticateParams(response);
      expect(params.resourceMetadataUrl?.href).toBe(`${app.baseUrl}/.well-known/oauth-protected-resource/api/mcp`);
      expect(params.scope).toBe('mcp:tools mcp:admin');
      expect(params.error).toBeUndefined();
    }
  });

  it('another scheme in Authorization is no token presented: no error="invalid_token"', async () => {
    app = await startOAuthApp({ as });
    const response = await fetch(app.sseUrl, { headers: { Authorization: 'Basic dXNlcjpwYXNz' } });
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toBe(`Bearer resource_metadata="${app.baseUrl}/.well-known/oauth-protected-resource/api/mcp"`);
  });

  it('403 insufficient_scope for a valid token without a required scope, with the scopes to ask for', async () => {
    app = await startOAuthApp({ as, oauth: { scopes: ['mcp:tools'] } });
    const token = await as.token({ client: as.narrowClient, resource: app.resource, scope: 'mcp:read' });
    for (const response of [
      await fetch(app.sseUrl, { headers: { Authorization: `Bearer ${token}` } }),
      await fetch(`${app.messagesUrl}?sessionId=x`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
        body: '{"jsonrpc":"2.0","id":3,"method":"ping"}',
      }),
    ]) {
      const text = await response.text();
      expectEnvelope({ status: response.status, headers: headersObject(response.headers), text }, 403, 'insufficient_scope');
      expect(text).not.toContain(token);
      expect(response.headers.get('www-authenticate')).toBe(
        `Bearer error="insufficient_scope", scope="mcp:tools", resource_metadata="${app.baseUrl}/.well-known/oauth-protected-resource/api/mcp"`,
      );
      expect(extractWWWAuthenticateParams(response).error).toBe('insufficient_scope');
    }
    expect(app.router.sessions.stats().authFailures).toBe(2);
  });

  it('an SDK client whose grant lacks the scope stops at the 403 instead of looping for tokens', async () => {
    app = await startOAuthApp({ as, oauth: { scopes: ['mcp:tools'] } });
    const tokensBefore = as.tokenRequests;
    await expect(connectV1(app.sseUrl, as, as.narrowClient, 'mcp:read')).rejects.toThrow(/403/);
    expect(as.tokenRequests - tokensBefore).toBe(1);
    expect(app.sessions).toHaveLength(0);
  });

  it('a token with every required scope among others passes, and tools see all its scopes', async () => {
    app = await startOAuthApp({ as, oauth: { scopes: ['mcp:tools'] } });
    const client = track(await connectV1(app.sseUrl, as, as.client, 'mcp:tools mcp:admin'));
    expect((await authInfoOf(client)).scopes).toEqual(['mcp:tools', 'mcp:admin']);
  });
});

describe('beside other strategies', () => {
  const apiKey = 'sk-oauth-beside-0123456789abcdef';

  it('the OAuth challenge comes first in WWW-Authenticate even when configured after an API key strategy', async () => {
    app = await startOAuthApp({
      as,
      oauth: { scopes: ['mcp:tools'] },
      strategies: (oauth) => [apiKeyStrategy({ keys: [apiKey] }), jwtStrategy({ secret }), oauth],
    });
    const response = await fetch(app.sseUrl);
    expect(response.status).toBe(401);
    const metadataUrl = `${app.baseUrl}/.well-known/oauth-protected-resource/api/mcp`;
    // Each challenge its own header line; fetch joins them, and SDK clients read only a header starting with Bearer.
    expect(response.headers.get('www-authenticate')).toBe(
      `Bearer scope="mcp:tools", resource_metadata="${metadataUrl}", ApiKey header="X-API-Key", Bearer realm="mcp"`,
    );
    expect(extractWWWAuthenticateParams(response).resourceMetadataUrl?.href).toBe(metadataUrl);
  });

  it('an SDK client discovers OAuth while API-key clients keep working', async () => {
    app = await startOAuthApp({
      as,
      oauth: { scopes: ['mcp:tools'] },
      strategies: (oauth) => [apiKeyStrategy({ keys: { [apiKey]: 'ops' } }), oauth],
    });
    const oauthClient = track(await connectV2(app.sseUrl, as));
    expect(JSON.parse(await callText(oauthClient, 'whoami')).clientId).toBe(as.client.clientId);
    const keyed = await fetch(app.sseUrl, { headers: { 'X-API-Key': apiKey } });
    expect(keyed.status).toBe(200);
    await keyed.body?.cancel();
    expect(app.sessions.map((s) => s.user?.id).sort()).toEqual([as.client.clientId, 'ops']);
  });

  it('a token lacking the scope still gets 403 when the other strategy saw no credentials; a valid API key wins', async () => {
    app = await startOAuthApp({ as, oauth: { scopes: ['mcp:tools'] }, strategies: (oauth) => [oauth, apiKeyStrategy({ keys: [apiKey] })] });
    const token = await as.token({ client: as.narrowClient, resource: app.resource, scope: 'mcp:read' });
    const forbidden = await fetch(app.sseUrl, { headers: { Authorization: `Bearer ${token}` } });
    expect(forbidden.status).toBe(403);
    await forbidden.body?.cancel();
    const both = await fetch(app.sseUrl, { headers: { Authorization: `Bearer ${token}`, 'X-API-Key': apiKey } });
    expect(both.status).toBe(200);
    await both.body?.cancel();
  });
});

describe('router.wellKnown (RFC 9728)', () => {
  it('serves the protected-resource document at the path-aware URL, cacheable and open to any origin', async () => {
    app = await startOAuthApp({ as, oauth: { scopes: ['mcp:tools', 'mcp:admin'], resourceName: 'Test MCP' } });
    const url = `${app.baseUrl}/.well-known/oauth-protected-resource/api/mcp`;
    const response = await fetch(url, { headers: { Origin: 'https://inspector.example.com', 'MCP-Protocol-Version': '2025-06-18' } });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    expect(response.headers.get('access-control-allow-origin')).toBe('*');
    expect(response.headers.get('cache-control')).toMatch(/max-age=\d+/);
    expect(await response.json()).toEqual({
      resource: app.resource,
      authorization_servers: [as.issuer],
      scopes_supported: ['mcp:tools', 'mcp:admin'],
      bearer_methods_supported: ['header'],
      resource_name: 'Test MCP',
    });
    // The SDK's own discovery parses it.
    const metadata = await discoverOAuthProtectedResourceMetadata(app.sseUrl, { resourceMetadataUrl: new URL(url) });
    expect(metadata.resource).toBe(app.resource);
  });

  it('answers HEAD and CORS preflights, 405 for other methods, and passes every other path on', async () => {
    app = await startOAuthApp({ as });
    app.app.use((_req, res) => res.status(404).json({ passedOn: true }));
    const url = `${app.baseUrl}/.well-known/oauth-protected-resource/api/mcp`;
    const head = await fetch(url, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(Number(head.headers.get('content-length'))).toBeGreaterThan(0);
    expect(await head.text()).toBe('');
    const preflight = await fetch(url, {
      method: 'OPTIONS',
      headers: {
        Origin: 'https://inspector.example.com',
        'Access-Control-Request-Method': 'GET',
        'Access-Control-Request-Headers': 'mcp-protocol-version',
      },
    });
    expect(preflight.status).toBe(204);
    expect(headersObject(preflight.headers)).toMatchObject({
      'access-control-allow-origin': '*',
      'access-control-allow-methods': 'GET, HEAD, OPTIONS',
      'access-control-allow-headers': '*',
    });
    const post = await fetch(url, { method: 'POST' });
    expectEnvelope({ status: post.status, headers: headersObject(post.headers), text: await post.text() }, 405, 'method_not_allowed');
    // Without a scope list, the document says nothing about scopes.
    expect(await (await fetch(url)).json()).toEqual({
      resource: app.resource,
      authorization_servers: [as.issuer],
      bearer_methods_supported: ['header'],
    });
    // The root and paths below the resource are answered too (one resource: test/http/well-known.test.ts).
    for (const other of [
      '/.well-known/oauth-protected-resource/api',
      '/.well-known/oauth-protected-resource/api/mcpx',
      '/.well-known/oauth-authorization-server',
      '/elsewhere',
    ]) {
      const response = await fetch(`${app.baseUrl}${other}`);
      expect({ other, status: response.status, body: await response.json() }).toEqual({ other, status: 404, body: { passedOn: true } });
    }
  });

  it('lists every authorization server of one resource, and serves the root form for a resource without a path', async () => {
    const as2 = await startAuthorizationServer();
    const server = await new Promise<Server>((resolve) => {
      const s = express().listen(0, '127.0.0.1', () => resolve(s));
    });
    try {
      const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const router = createMcpSseRouter({
        createServer: () => ({ connect: async () => {} }),
        auth: {
          strategies: [
            oauthStrategy({ issuer: as.issuer, resource: baseUrl, scopes: ['a'] }),
            oauthStrategy({ issuer: as2.issuer, resource: baseUrl, scopes: ['a', 'b'] }),
          ],
        },
      });
      const routed = express().use(router.wellKnown).use('/', router);
      server.on('request', routed);
      const response = await fetch(`${baseUrl}/.well-known/oauth-protected-resource`);
      expect(await response.json()).toEqual({
        resource: baseUrl,
        authorization_servers: [as.issuer, as2.issuer],
        scopes_supported: ['a', 'b'],
        bearer_methods_supported: ['header'],
      });
      const challenge = await fetch(`${baseUrl}/sse`);
      expect(challenge.headers.get('www-authenticate')).toBe(
        `Bearer scope="a", resource_metadata="${baseUrl}/.well-known/oauth-protected-resource", Bearer scope="a b", resource_metadata="${baseUrl}/.well-known/oauth-protected-resource"`,
      );
      await router.close();
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await as2.close();
    }
  });

  it('passes everything on when no oauthStrategy is configured', async () => {
    const router = createMcpSseRouter({
      createServer: () => ({ connect: async () => {} }),
      auth: { strategies: [apiKeyStrategy({ keys: ['k-0123456789abcdef'] })] },
    });
    const reached: string[] = [];
    const handler = express()
      .use(router.wellKnown)
      .use((req, res) => {
        reached.push(req.path);
        res.status(404).end();
      });
    const server = await new Promise<Server>((resolve) => {
      const s = handler.listen(0, '127.0.0.1', () => resolve(s));
    });
    try {
      const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      expect((await fetch(`${baseUrl}/.well-known/oauth-protected-resource`)).status).toBe(404);
      expect((await fetch(`${baseUrl}/.well-known/oauth-protected-resource/mcp`)).status).toBe(404);
      expect(reached).toEqual(['/.well-known/oauth-protected-resource', '/.well-known/oauth-protected-resource/mcp']);
    } finally {
      await router.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});

describe('a resource without a path, mounted at the root', () => {
  it('an SDK v2 client connects; tokens for the origin with or without its slash are accepted', async () => {
    app = await startOAuthApp({ as, mountPath: '/', oauth: { scopes: ['mcp:tools'] } });
    const resource = app.baseUrl;
    // startOAuthApp made the resource `${baseUrl}/`; the SDK sends the metadata's string verbatim.
    expect(await (await fetch(`${app.baseUrl}/.well-known/oauth-protected-resource`)).json()).toMatchObject({ resource: `${resource}/` });
    const client = track(await connectV2(`${app.baseUrl}/sse`, as));
    expect((await authInfoOf(client)).resource).toBe(`${resource}/`);
    for (const aud of [resource, `${resource}/`]) {
      const token = await as.token({ resource: aud, scope: 'mcp:tools' });
      const response = await fetch(`${app.baseUrl}/sse`, { headers: { Authorization: `Bearer ${token}` } });
      expect({ aud, status: response.status }).toEqual({ aud, status: 200 });
      await response.body?.cancel();
    }
  });
});
