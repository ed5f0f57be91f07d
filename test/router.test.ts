// The router's own dispatch: a mounted router reaches its routes directly, and what an app adds to it still runs.
import express from 'express';
import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { createMcpSseRouter, type McpSseRouter } from '../lib/index.js';
import { buildServerV1 } from './helpers/server.js';

let router: McpSseRouter | undefined;
afterEach(async () => {
  await router?.close({ timeoutMs: 1000 });
  router = undefined;
});

describe('createMcpSseRouter() mounted on an app', () => {
  it('answers its own routes under the mount path and passes other paths on to the app', async () => {
    router = createMcpSseRouter({ createServer: () => buildServerV1() });
    const app = express().use('/mcp', router);
    app.use((_req, res) => void res.status(418).send('app'));
    const post = await request(app).post('/mcp/messages').set('Content-Type', 'application/json').send('{"jsonrpc":"2.0","id":1,"method":"ping"}');
    expect(post.status).toBe(400);
    expect(post.body.error.data.reason).toBe('missing_session_id');
    expect((await request(app).get('/mcp/elsewhere')).status).toBe(418);
    expect((await request(app).get('/other/sse')).status).toBe(418);
  });

  it("runs what the app adds to the router (mcp.use, mcp.get) for the paths the router's own routes leave", async () => {
    router = createMcpSseRouter({ createServer: () => buildServerV1() });
    const seen: string[] = [];
    router.use((req, _res, next) => {
      seen.push(`${req.baseUrl} ${req.method} ${req.path}`);
      next();
    });
    router.get('/hello', (_req, res) => void res.send('hi'));
    const app = express().use('/mcp', router);
    const hello = await request(app).get('/mcp/hello');
    expect(hello.text).toBe('hi');
    const post = await request(app).post('/mcp/messages').set('Content-Type', 'application/json').send('{"jsonrpc":"2.0","id":1,"method":"ping"}');
    expect(post.body.error.data.reason).toBe('missing_session_id');
    // The router's own routes come first (its dispatcher is the first middleware), as before anything was added.
    expect(seen).toEqual(['/mcp GET /hello']);
  });
});
