// Error responses never carry stack traces, thrown messages or source paths, whatever failed behind them.
import { afterEach, describe, expect, it } from 'vitest';
import request from 'supertest';
import { Strategy as PassportStrategy } from 'passport-strategy';
import { ErrorCodes, type McpSseError } from '../../lib/index.js';
import { cleanup, expectEnvelope, expectNoInternals, expectStreamRefused, harnessWith, openStream, ping } from '../auth/helpers.js';

afterEach(cleanup);

const secretDetail = 'connection string postgres://admin:hunter2@db.internal';

/** A foreign strategy that throws instead of calling error(). */
class ThrowingStrategy extends PassportStrategy {
  name = 'throwing';
  override authenticate(): void {
    throw new Error(secretDetail);
  }
}

describe('error bodies', () => {
  it('hide a strategy that throws synchronously behind a 500 envelope, reported as ERR_MCP_SSE_AUTH_STRATEGY', async () => {
    const errors: McpSseError[] = [];
    const harness = await harnessWith({ auth: { strategies: [new ThrowingStrategy()] }, onError: (error) => errors.push(error) });
    for (const res of [
      await request(harness.baseUrl).get('/mcp/sse'),
      await request(harness.baseUrl).post('/mcp/messages?sessionId=x').send(ping(1)),
    ]) {
      expectEnvelope(res, 500, 'auth_error');
      expect(res.text).not.toContain('hunter2');
    }
    expect(errors.map((e) => e.code)).toEqual([ErrorCodes.authStrategy, ErrorCodes.authStrategy]);
    expect(harness.router.sessions.size).toBe(0);
  });

  it('hide a failing createServer behind a 500 envelope', async () => {
    const errors: McpSseError[] = [];
    const harness = await harnessWith({
      createServer: () => {
        throw new Error(secretDetail);
      },
      onError: (error) => errors.push(error),
    });
    const opened = await openStream(harness.sseUrl);
    expectStreamRefused(opened, 500, 'create_server_failed');
    expect(opened.body).not.toContain('hunter2');
    expect(errors.map((e) => e.code)).toEqual([ErrorCodes.createServer]);
    expect(harness.router.sessions.size).toBe(0);
  });

  it('carry no internals for malformed, oversized, mistyped and misrouted requests', async () => {
    const harness = await harnessWith({ maxMessageSize: 64 });
    const opened = await openStream(harness.sseUrl);
    const post = () => request(harness.baseUrl).post(opened.endpoint);
    const responses = [
      await post().set('Content-Type', 'application/json').send('{"jsonrpc":"2.0","id":1,'),
      await post()
        .set('Content-Type', 'application/json')
        .send(JSON.stringify({ ...ping(2), pad: 'x'.repeat(200) })),
      await post().set('Content-Type', 'text/plain').send('hello'),
      await post().send({ jsonrpc: '1.0', id: 3 }),
      await request(harness.baseUrl).post('/mcp/messages').send(ping(4)),
      await request(harness.baseUrl).put('/mcp/sse'),
      await request(harness.baseUrl).post('/mcp/sse').send(ping(5)),
    ];
    expect(responses.map((r) => r.status)).toEqual([400, 413, 415, 400, 400, 405, 405]);
    for (const res of responses) {
      expect(res.headers['content-type']).toMatch(/^application\/json/);
      expect(JSON.parse(res.text)).toMatchObject({ jsonrpc: '2.0', error: { code: expect.any(Number), data: { reason: expect.any(String) } } });
      expectNoInternals(res.text);
    }
  });
});
