// CORS: nothing unless configured; preflights allow the MCP and credential headers and the route's method.
import { afterEach, describe, expect, it } from 'vitest';
import request from 'supertest';
import { apiKeyStrategy, jwtStrategy } from '../../lib/index.js';
import { cleanup, expectEnvelope, harnessWith, headersObject, openStream, ping, secret } from '../auth/helpers.js';

afterEach(cleanup);

const appOrigin = 'https://app.example.com';
const apiKey = 'sk-test-cors-0123456789abcdef';

const preflight = (baseUrl: string, path: string, method: string, origin = appOrigin) =>
  request(baseUrl)
    .options(path)
    .set('Origin', origin)
    .set('Access-Control-Request-Method', method)
    .set('Access-Control-Request-Headers', 'content-type,authorization,x-api-key,mcp-protocol-version,last-event-id');

const allowedHeaders = (value: string | undefined) => (value ?? '').split(/\s*,\s*/).map((h) => h.toLowerCase());
const corsHeaderNames = (headers: Record<string, string> | Headers) =>
  Object.keys(headers instanceof Headers ? headersObject(headers) : headers).filter((name) => name.toLowerCase().startsWith('access-control-'));

describe('CORS not configured', () => {
  it('sends no CORS headers at all, on streams, POSTs, errors and preflights', async () => {
    const harness = await harnessWith({});
    const stream = await openStream(harness.sseUrl, { Origin: appOrigin });
    expect(stream.status).toBe(200);
    expect(corsHeaderNames(stream.headers)).toEqual([]);

    const post = await request(harness.baseUrl).post(stream.endpoint).set('Origin', appOrigin).send(ping());
    expect(post.status).toBe(202);
    expect(corsHeaderNames(post.headers)).toEqual([]);

    const missing = await request(harness.baseUrl).post('/mcp/messages?sessionId=nope').set('Origin', appOrigin).send(ping(2));
    expectEnvelope(missing, 404, 'session_not_found', 2);
    expect(corsHeaderNames(missing.headers)).toEqual([]);

    for (const [path, method] of [
      ['/mcp/sse', 'GET'],
      ['/mcp/messages', 'POST'],
    ] as const) {
      const res = await preflight(harness.baseUrl, path, method);
      expect(res.status).toBe(204);
      expect(corsHeaderNames(res.headers)).toEqual([]);
    }
  });
});

describe('CORS configured', () => {
  const start = () =>
    harnessWith({
      cors: { origin: [appOrigin] },
      auth: { strategies: [jwtStrategy({ secret }), apiKeyStrategy({ keys: [apiKey] })] },
    });

  it('answers a preflight of the SSE path with the origin, GET and every MCP and credential header, without auth', async () => {
    const harness = await start();
    const res = await preflight(harness.baseUrl, '/mcp/sse', 'GET');
    expect(res.status).toBe(204);
    expect(res.headers['access-control-allow-origin']).toBe(appOrigin);
    expect(res.headers['access-control-allow-methods']).toBe('GET');
    expect(allowedHeaders(res.headers['access-control-allow-headers'])).toEqual(
      expect.arrayContaining(['content-type', 'authorization', 'x-api-key', 'mcp-protocol-version', 'last-event-id']),
    );
    expect(res.headers['www-authenticate']).toBeUndefined();
    expect(harness.router.sessions.stats().authFailures).toBe(0);
  });

  it('answers a preflight of the messages path with POST', async () => {
    const harness = await start();
    const res = await preflight(harness.baseUrl, '/mcp/messages', 'POST');
    expect(res.status).toBe(204);
    expect(res.headers['access-control-allow-origin']).toBe(appOrigin);
    expect(res.headers['access-control-allow-methods']).toBe('POST');
    expect(allowedHeaders(res.headers['access-control-allow-headers'])).toEqual(
      expect.arrayContaining(['content-type', 'authorization', 'x-api-key', 'mcp-protocol-version', 'last-event-id']),
    );
  });

  it('gives a refused origin no Access-Control-Allow-Origin', async () => {
    const harness = await start();
    const res = await preflight(harness.baseUrl, '/mcp/sse', 'GET', 'https://evil.example');
    expect(res.headers['access-control-allow-origin']).toBeUndefined();
    const post = await request(harness.baseUrl).post('/mcp/messages?sessionId=x').set('Origin', 'https://evil.example').send(ping());
    expect(post.status).toBe(401);
    expect(post.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('lets an allowed origin read 401s and their WWW-Authenticate, and the stream itself', async () => {
    const harness = await start();
    const refused = await request(harness.baseUrl).get('/mcp/sse').set('Origin', appOrigin);
    expectEnvelope(refused, 401, 'missing_credentials');
    expect(refused.headers['access-control-allow-origin']).toBe(appOrigin);
    expect(allowedHeaders(refused.headers['access-control-expose-headers'])).toEqual(
      expect.arrayContaining(['www-authenticate', 'retry-after', 'ratelimit', 'ratelimit-policy']),
    );
    const stream = await openStream(harness.sseUrl, { Origin: appOrigin, 'X-API-Key': apiKey });
    expect(stream.status).toBe(200);
    expect(stream.headers.get('access-control-allow-origin')).toBe(appOrigin);
  });

  it('allows the configured credential headers of custom strategies', async () => {
    const harness = await harnessWith({
      cors: { origin: appOrigin },
      auth: {
        strategies: [
          jwtStrategy({ secret, headerName: 'X-Auth-Token', requireBearer: false }),
          apiKeyStrategy({ keys: [apiKey], headerName: 'X-Team-Key' }),
        ],
      },
    });
    const res = await request(harness.baseUrl)
      .options('/mcp/messages')
      .set('Origin', appOrigin)
      .set('Access-Control-Request-Method', 'POST')
      .set('Access-Control-Request-Headers', 'x-auth-token,x-team-key');
    expect(res.status).toBe(204);
    const headers = allowedHeaders(res.headers['access-control-allow-headers']);
    expect(headers).toEqual(
      expect.arrayContaining(['x-auth-token', 'x-team-key', 'content-type', 'authorization', 'mcp-protocol-version', 'last-event-id']),
    );
    expect(headers).not.toContain('x-api-key');
  });
});
