// router.wellKnown for clients that got no resource_metadata: with one resource, the probes of the URL they connected
// to (`…/mcp/sse`) and the bare root path are answered with its document; with several, only exact paths are.
import { discoverOAuthProtectedResourceMetadata } from '@modelcontextprotocol/sdk/client/auth.js';
import express from 'express';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { createMcpSseRouter, oauthStrategy } from '../../lib/index.js';
import { buildServerV1 } from '../helpers/server.js';

const createServer = () => buildServerV1();
const root = '/.well-known/oauth-protected-resource';

function appFor(resources: string[]) {
  const strategies = resources.map((resource) => oauthStrategy({ issuer: 'https://auth.example.com', resource }));
  const router = createMcpSseRouter({ createServer, auth: { strategies } });
  return express()
    .use(router.wellKnown)
    .use((_req, res) => res.status(404).json({ passedOn: true }));
}

describe('router.wellKnown probes without resource_metadata', () => {
  it('answers the path-aware probe of the SSE URL and the root with the one resource', async () => {
    const app = appFor(['https://api.example.com/mcp']);
    for (const path of [`${root}/mcp`, `${root}/mcp/sse`, `${root}/mcp/messages`, root]) {
      const res = await request(app).get(path);
      expect({ path, status: res.status, resource: res.body.resource }).toEqual({ path, status: 200, resource: 'https://api.example.com/mcp' });
    }
    for (const path of [`${root}/mcpx`, `${root}/other/mcp`, '/.well-known/oauth-authorization-server']) {
      expect({ path, status: (await request(app).get(path)).status }).toEqual({ path, status: 404 });
    }
  });

  it("is what the SDK's discovery finds for a legacy SSE URL, and the SDK accepts its resource", async () => {
    const app = appFor(['http://127.0.0.1/mcp']);
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    try {
      const { port } = server.address() as { port: number };
      const probes: string[] = [];
      const fetchFn = (url: string | URL, init?: RequestInit) => (probes.push(new URL(url).pathname), fetch(url, init));
      const metadata = await discoverOAuthProtectedResourceMetadata(`http://127.0.0.1:${port}/mcp/sse`, undefined, fetchFn);
      expect(metadata.resource).toBe('http://127.0.0.1/mcp');
      expect(probes).toEqual([`${root}/mcp/sse`]);
    } finally {
      server.close();
    }
  });

  it('leaves the root and unknown paths alone when several resources are configured', async () => {
    const app = appFor(['https://api.example.com/mcp', 'https://api.example.com/admin']);
    expect((await request(app).get(`${root}/admin`)).body.resource).toBe('https://api.example.com/admin');
    expect((await request(app).get(root)).status).toBe(404);
    expect((await request(app).get(`${root}/mcp/sse`)).status).toBe(404);
  });
});
