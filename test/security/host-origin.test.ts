// allowedHosts / allowedOrigins: the DNS-rebinding guard on both routes, before auth and before CORS.
import { afterEach, describe, expect, it, vi } from 'vitest';
import request from 'supertest';
import { apiKeyStrategy } from '../../lib/index.js';
import { buildServerV1 } from '../helpers/server.js';
import { cleanup, expectEnvelope, harnessWith, openStream, ping } from '../auth/helpers.js';

afterEach(cleanup);

const apiKey = 'sk-test-host-origin-0123456789';

describe('allowedHosts', () => {
  it('refuses a bad Host on both routes with 403 host_not_allowed, before auth, creating nothing', async () => {
    const createServer = vi.fn(buildServerV1);
    const harness = await harnessWith({ allowedHosts: ['127.0.0.1'], createServer, auth: { strategies: [apiKeyStrategy({ keys: [apiKey] })] } });
    const get = await request(harness.baseUrl).get('/mcp/sse').set('Host', 'attacker.example').set('X-API-Key', apiKey);
    expectEnvelope(get, 403, 'host_not_allowed');
    const post = await request(harness.baseUrl).post('/mcp/messages?sessionId=x').set('Host', 'attacker.example:80').send(ping(5));
    expectEnvelope(post, 403, 'host_not_allowed');
    const preflight = await request(harness.baseUrl).options('/mcp/sse').set('Host', 'attacker.example');
    expectEnvelope(preflight, 403, 'host_not_allowed');
    expect(harness.router.sessions.stats().authFailures).toBe(0);
    expect(createServer).not.toHaveBeenCalled();
    // The real Host (127.0.0.1:<port>) matches the port-less entry.
    const good = await openStream(harness.sseUrl, { 'X-API-Key': apiKey });
    expect(good.status).toBe(200);
    expect((await request(harness.baseUrl).post(good.endpoint).set('X-API-Key', apiKey).send(ping())).status).toBe(202);
  });

  it('matches an entry without a port on any port, and one with a port on that port only', async () => {
    const harness = await harnessWith({ allowedHosts: ['localhost', 'mcp.example.com:8443', '[::1]'] });
    const post = (host: string) => request(harness.baseUrl).post('/mcp/messages?sessionId=unknown').set('Host', host).send(ping(1));
    // Past the guard, an unknown session: 404.
    for (const host of ['localhost', 'localhost:3000', 'LOCALHOST:1', 'mcp.example.com:8443', '[::1]:9000', '[::1]']) {
      expectEnvelope(await post(host), 404, 'session_not_found', 1);
    }
    for (const host of ['mcp.example.com', 'mcp.example.com:443', 'localhost.evil.example', 'evil-localhost:3000', '127.0.0.1']) {
      expectEnvelope(await post(host), 403, 'host_not_allowed', null);
    }
    for (const host of ['mcp.example.com:9999', 'mcp.example.com']) {
      expectEnvelope(await request(harness.baseUrl).get('/mcp/sse').set('Host', host), 403, 'host_not_allowed');
    }
  });
});

describe('allowedOrigins', () => {
  const start = () => harnessWith({ allowedOrigins: ['https://app.example.com', 'http://localhost:5173/'] });

  it('refuses a bad Origin on both routes with 403 origin_not_allowed', async () => {
    const harness = await start();
    for (const origin of [
      'https://evil.example',
      'https://app.example.com.evil.example',
      'http://app.example.com',
      'null',
      'http://localhost:5174',
    ]) {
      expectEnvelope(await request(harness.baseUrl).get('/mcp/sse').set('Origin', origin), 403, 'origin_not_allowed');
      expectEnvelope(await request(harness.baseUrl).post('/mcp/messages?sessionId=x').set('Origin', origin).send(ping(2)), 403, 'origin_not_allowed');
    }
    expect(harness.router.sessions.size).toBe(0);
  });

  it('lets requests without Origin and from listed origins through, on both routes', async () => {
    const harness = await start();
    const noOrigin = await openStream(harness.sseUrl);
    expect(noOrigin.status).toBe(200);
    expect((await request(harness.baseUrl).post(noOrigin.endpoint).send(ping())).status).toBe(202);

    const listed = await openStream(harness.sseUrl, { Origin: 'https://app.example.com' });
    expect(listed.status).toBe(200);
    // Origins compare case-insensitively, and a listed trailing slash does not matter.
    const post = await request(harness.baseUrl).post(listed.endpoint).set('Origin', 'HTTPS://APP.EXAMPLE.COM').send(ping());
    expect(post.status).toBe(202);
    expect((await openStream(harness.sseUrl, { Origin: 'http://localhost:5173' })).status).toBe(200);
  });

  it('checks Host and Origin together', async () => {
    const harness = await harnessWith({ allowedHosts: ['127.0.0.1'], allowedOrigins: ['https://app.example.com'] });
    const badHost = await request(harness.baseUrl)
      .post('/mcp/messages?sessionId=x')
      .set('Host', 'evil.example')
      .set('Origin', 'https://app.example.com')
      .send(ping());
    expectEnvelope(badHost, 403, 'host_not_allowed');
    const badOrigin = await request(harness.baseUrl).post('/mcp/messages?sessionId=x').set('Origin', 'https://evil.example').send(ping());
    expectEnvelope(badOrigin, 403, 'origin_not_allowed');
    expectEnvelope(
      await request(harness.baseUrl).post('/mcp/messages?sessionId=x').set('Origin', 'https://app.example.com').send(ping(3)),
      404,
      'session_not_found',
      3,
    );
  });
});
