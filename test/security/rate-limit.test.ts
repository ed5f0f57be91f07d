// rateLimit: express-rate-limit per route, keyed by principal when authenticated and by IP otherwise.
import { errorMonitor } from 'node:events';
import type { RateLimitExceededEventHandler as RateLimitHandler } from 'express-rate-limit';
import { afterEach, describe, expect, it } from 'vitest';
import request from 'supertest';
import { apiKeyStrategy } from '../../lib/index.js';
import { cleanup, expectEnvelope, expectStreamRefused, harnessWith, openStream, ping } from '../auth/helpers.js';
import { openMcpSession } from '../helpers/streamable.js';

afterEach(cleanup);

const keys = { 'sk-test-alice-000000000000': 'alice', 'sk-test-bob-11111111111111': 'bob' };
const alice = { 'X-API-Key': 'sk-test-alice-000000000000' };
const bob = { 'X-API-Key': 'sk-test-bob-11111111111111' };
const messagesLimit = { messages: { windowMs: 60_000, limit: 3 } };

describe('rateLimit.messages', () => {
  it('answers the 4th POST with a 429 envelope, draft-7 headers, and counts it', async () => {
    const harness = await harnessWith({ rateLimit: messagesLimit });
    const opened = await openStream(harness.sseUrl);
    for (let id = 1; id <= 3; id++) {
      const res = await request(harness.baseUrl).post(opened.endpoint).send(ping(id));
      expect(res.status).toBe(202);
      expect(res.headers['ratelimit']).toBe(`limit=3, remaining=${3 - id}, reset=60`);
    }
    const limited = await request(harness.baseUrl).post(opened.endpoint).send(ping(4));
    expectEnvelope(limited, 429, 'rate_limited');
    expect(limited.headers['ratelimit']).toMatch(/^limit=3, remaining=0, reset=\d+$/);
    expect(limited.headers['ratelimit-policy']).toBe('3;w=60');
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    expect(limited.headers['x-ratelimit-limit']).toBeUndefined();
    expect(harness.router.sessions.stats()).toMatchObject({ rateLimited: 1, messagesIn: 3 });

    expect((await request(harness.baseUrl).post(opened.endpoint).send(ping(5))).status).toBe(429);
    expect(harness.router.sessions.stats().rateLimited).toBe(2);
    // The stream route has no limit of its own.
    expect((await openStream(harness.sseUrl)).status).toBe(200);
  });

  it('gives each authenticated principal its own budget', async () => {
    const harness = await harnessWith({ auth: { strategies: [apiKeyStrategy({ keys })] }, rateLimit: messagesLimit });
    const aliceStream = await openStream(harness.sseUrl, alice);
    const bobStream = await openStream(harness.sseUrl, bob);
    for (let i = 0; i < 3; i++) expect((await request(harness.baseUrl).post(aliceStream.endpoint).set(alice).send(ping(i))).status).toBe(202);
    expectEnvelope(await request(harness.baseUrl).post(aliceStream.endpoint).set(alice).send(ping(9)), 429, 'rate_limited');
    // Same IP, another principal: a fresh budget.
    const bobFirst = await request(harness.baseUrl).post(bobStream.endpoint).set(bob).send(ping(1));
    expect(bobFirst.status).toBe(202);
    expect(bobFirst.headers['ratelimit']).toBe('limit=3, remaining=2, reset=60');
    expect(harness.router.sessions.stats().rateLimited).toBe(1);
  });

  it('keys anonymous requests by client IP', async () => {
    const harness = await harnessWith({
      rateLimit: messagesLimit,
      // The test client is on loopback: trusting it lets X-Forwarded-For stand for other client IPs.
      before: (app) => app.set('trust proxy', 'loopback'),
    });
    const opened = await openStream(harness.sseUrl);
    const from = (ip: string, id: number) => request(harness.baseUrl).post(opened.endpoint).set('X-Forwarded-For', ip).send(ping(id));
    for (let i = 0; i < 3; i++) expect((await from('203.0.113.5', i)).status).toBe(202);
    expectEnvelope(await from('203.0.113.5', 3), 429, 'rate_limited');
    expect((await from('198.51.100.7', 4)).status).toBe(202);
    // IPv6 clients of one /56 share a budget.
    for (let i = 0; i < 3; i++) expect((await from(`2001:db8:0:1${i}::1`, 10 + i)).status).toBe(202);
    expectEnvelope(await from('2001:db8:0:ff::2', 20), 429, 'rate_limited');
  });
});

describe('rateLimit.sse', () => {
  it('limits opening streams, not posting', async () => {
    const harness = await harnessWith({ rateLimit: { sse: { windowMs: 60_000, limit: 2 } } });
    const first = await openStream(harness.sseUrl);
    expect(first.status).toBe(200);
    expect(first.headers.get('ratelimit')).toBe('limit=2, remaining=1, reset=60');
    expect((await openStream(harness.sseUrl)).status).toBe(200);
    const limited = await openStream(harness.sseUrl);
    expectStreamRefused(limited, 429, 'rate_limited');
    expect(limited.headers.get('ratelimit-policy')).toBe('2;w=60');
    expect(harness.router.sessions.size).toBe(2);
    expect(harness.router.sessions.stats().rateLimited).toBe(1);
    for (let i = 0; i < 5; i++) expect((await request(harness.baseUrl).post(first.endpoint).send(ping(i))).status).toBe(202);
  });

  it('runs after authentication, so principals have separate stream budgets', async () => {
    const harness = await harnessWith({ auth: { strategies: [apiKeyStrategy({ keys })] }, rateLimit: { sse: { windowMs: 60_000, limit: 1 } } });
    expect((await openStream(harness.sseUrl, alice)).status).toBe(200);
    expectStreamRefused(await openStream(harness.sseUrl, alice), 429, 'rate_limited');
    expect((await openStream(harness.sseUrl, bob)).status).toBe(200);
  });

  it('uses a custom handler when one is given, still counting the refusal', async () => {
    const harness = await harnessWith({
      rateLimit: { sse: { windowMs: 60_000, limit: 1, handler: (_req, res) => void res.status(429).json({ custom: true }) } },
    });
    expect((await openStream(harness.sseUrl)).status).toBe(200);
    const limited = await openStream(harness.sseUrl);
    expect(limited.status).toBe(429);
    expect(JSON.parse(limited.body)).toEqual({ custom: true });
    expect(harness.router.sessions.stats().rateLimited).toBe(1);
  });

  it('keeps a custom handler that writes after the end from ending the process', async () => {
    const late: unknown[] = [];
    const answerTwice: RateLimitHandler = (_req, res) => {
      res.status(429).end('first');
      // A monitor sees the error without counting as a listener: without the router's, the process would end.
      res.on(errorMonitor, (error: NodeJS.ErrnoException) => late.push(error.code));
      res.write('again');
    };
    const harness = await harnessWith({ rateLimit: { messages: { windowMs: 60_000, limit: 1, handler: answerTwice } } });
    const opened = await openStream(harness.sseUrl);
    expect((await request(harness.baseUrl).post(opened.endpoint).send(ping(1))).status).toBe(202);
    const limited = await request(harness.baseUrl).post(opened.endpoint).send(ping(2));
    expect([limited.status, limited.text]).toEqual([429, 'first']);
    await expect.poll(() => late).toEqual(['ERR_STREAM_WRITE_AFTER_END']);
  });
});

describe('rateLimit.mcp', () => {
  it('is one budget per key for the Streamable HTTP endpoint, whatever the method', async () => {
    const harness = await harnessWith({ rateLimit: { mcp: { windowMs: 60_000, limit: 2 } } });
    // initialize and notifications/initialized: two POSTs, the whole budget.
    const session = await openMcpSession(harness.mcpUrl);
    const deleted = await session.reply({ method: 'DELETE' });
    expect(deleted.status).toBe(429);
    expect(JSON.parse(deleted.text)).toMatchObject({ jsonrpc: '2.0', error: { data: { reason: 'rate_limited' } } });
    expect(deleted.headers['ratelimit']).toMatch(/^limit=2, remaining=0, reset=\d+$/);
    expect((await session.listen()).status).toBe(429);
    expect(harness.router.sessions.size).toBe(1);
    expect(harness.router.sessions.stats().rateLimited).toBe(2);
  });
});
