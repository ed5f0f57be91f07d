// apiKeyStrategy() through the router: key lists, named keys, verify(), allowBearer, and failing verifiers.
import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import request from 'supertest';
import { apiKeyStrategy, ErrorCodes, type ApiKeyStrategyOptions, type McpSseError, type SessionContext } from '../../lib/index.js';
import { buildServerV1, buildServerV2 } from '../helpers/server.js';
import { cleanup, connectClient, expectEnvelope, expectNoInternals, harnessWith, openStream, ping, whoami } from './helpers.js';

afterEach(cleanup);

const withKeys = (options: ApiKeyStrategyOptions, extra: Parameters<typeof harnessWith>[0] = {}) =>
  harnessWith({ auth: { strategies: [apiKeyStrategy(options)] }, ...extra });

const keyA = 'sk-test-0123456789abcdef-alpha';
const keyB = 'sk-test-fedcba9876543210-bravo';

describe('apiKeyStrategy', () => {
  it('accepts a key of a record and names the principal after it', async () => {
    const contexts: SessionContext[] = [];
    const harness = await withKeys(
      { keys: { [keyA]: 'team-alpha', [keyB]: 'team-bravo' } },
      {
        createServer: (session) => (contexts.push(session), buildServerV1(session)),
      },
    );
    const client = await connectClient(harness.sseUrl, { 'X-API-Key': keyB });
    expect(await whoami(client)).toEqual({ clientId: 'team-bravo', scopes: [], sessionUser: 'team-bravo' });
    expect(contexts[0]!.user).toEqual({ id: 'team-bravo' });
  });

  it('gives a bare-array key the principal id key:<first 8 hex of SHA-256>, never the key itself', async () => {
    const contexts: SessionContext[] = [];
    const harness = await withKeys({ keys: [keyA, keyB] }, { createServer: (session) => (contexts.push(session), buildServerV1(session)) });
    const client = await connectClient(harness.sseUrl, { 'X-API-Key': keyA });
    const expected = `key:${createHash('sha256').update(keyA).digest('hex').slice(0, 8)}`;
    const me = await whoami(client);
    expect(me.clientId).toBe(expected);
    expect(me.sessionUser).toBe(expected);
    expect(JSON.stringify(contexts[0]!.user)).not.toContain(keyA);
    expect(contexts[0]!.user!.id).toMatch(/^key:[0-9a-f]{8}$/);
  });

  it('refuses a wrong key and a missing key with 401, an ApiKey challenge and no echo of the key', async () => {
    const createServer = vi.fn(buildServerV1);
    const harness = await withKeys({ keys: [keyA] }, { createServer });
    const wrongKey = 'sk-test-wrong-key-that-must-not-echo';
    const wrong = await request(harness.baseUrl).get('/mcp/sse').set('X-API-Key', wrongKey);
    expectEnvelope(wrong, 401, 'invalid_credentials');
    expect(wrong.headers['www-authenticate']).toBe('ApiKey header="X-API-Key"');
    expect(wrong.text + JSON.stringify(wrong.headers)).not.toContain(wrongKey);

    const missing = await request(harness.baseUrl).post('/mcp/messages?sessionId=s').send(ping(9));
    expectEnvelope(missing, 401, 'missing_credentials');
    expect(missing.headers['www-authenticate']).toBe('ApiKey header="X-API-Key"');

    expect(createServer).not.toHaveBeenCalled();
    expect(harness.router.sessions.size).toBe(0);
    expect(harness.router.sessions.stats().authFailures).toBe(2);
  });

  it('uses an async verify(key) and its principal', async () => {
    const verify = vi.fn(async (key: string) => {
      await new Promise((resolve) => setTimeout(resolve, 5));
      return key === keyA ? { id: 'verified-user', scope: 'files:read' } : false;
    });
    const harness = await withKeys({ verify });
    const client = await connectClient(harness.sseUrl, { 'X-API-Key': keyA });
    expect(await whoami(client)).toMatchObject({ clientId: 'verified-user', sessionUser: 'verified-user' });
    expect(verify).toHaveBeenCalledWith(keyA);
    expectEnvelope(await request(harness.baseUrl).get('/mcp/sse').set('X-API-Key', keyB), 401, 'invalid_credentials');
  });

  it('accepts Authorization: Bearer <key> only with allowBearer', async () => {
    const off = await withKeys({ keys: { [keyA]: 'bearer-user' } });
    expectEnvelope(await request(off.baseUrl).get('/mcp/sse').set('Authorization', `Bearer ${keyA}`), 401, 'missing_credentials');

    const on = await withKeys({ keys: { [keyA]: 'bearer-user' }, allowBearer: true });
    const client = await connectClient(on.sseUrl, { Authorization: `Bearer ${keyA}` });
    expect((await whoami(client)).clientId).toBe('bearer-user');
    expectEnvelope(await request(on.baseUrl).get('/mcp/sse').set('Authorization', `Bearer ${keyB}`), 401, 'invalid_credentials');
    // The primary header still works next to it.
    expect((await openStream(on.sseUrl, { 'X-API-Key': keyA })).status).toBe(200);
  });

  it('reads a custom header and names it in the challenge', async () => {
    const harness = await withKeys({ keys: { [keyA]: 'custom-header-user' }, headerName: 'X-Team-Key' });
    expect((await openStream(harness.sseUrl, { 'X-Team-Key': keyA })).status).toBe(200);
    const res = await request(harness.baseUrl).get('/mcp/sse').set('X-API-Key', keyA);
    expectEnvelope(res, 401, 'missing_credentials');
    expect(res.headers['www-authenticate']).toBe('ApiKey header="X-Team-Key"');
  });

  it('reads the key from the query only with queryParameter, and keeps it out of the endpoint URL', async () => {
    const off = await withKeys({ keys: { [keyA]: 'query-user' } });
    expect((await request(off.baseUrl).get(`/mcp/sse?api_key=${keyA}`)).status).toBe(401);

    const on = await withKeys({ keys: { [keyA]: 'query-user' }, queryParameter: 'api_key' });
    const opened = await openStream(`${on.sseUrl}?api_key=${keyA}`);
    expect(opened.status).toBe(200);
    expect(opened.endpoint).not.toContain(keyA);
    expect(opened.endpoint).not.toContain('api_key');
    expect(on.router.sessions.get(opened.sessionId)?.user?.id).toBe('query-user');
  });

  it('answers 500 without internals when verify throws, and reports ERR_MCP_SSE_AUTH_STRATEGY', async () => {
    const errors: McpSseError[] = [];
    const createServer = vi.fn(buildServerV1);
    const harness = await withKeys(
      {
        verify: async () => {
          throw new Error('db password=hunter2 at users.find');
        },
      },
      { createServer, onError: (error) => errors.push(error) },
    );
    for (const res of [
      await request(harness.baseUrl).get('/mcp/sse').set('X-API-Key', keyA),
      await request(harness.baseUrl).post('/mcp/messages?sessionId=s').set('X-API-Key', keyA).send(ping(4)),
    ]) {
      expectEnvelope(res, 500, 'auth_error');
      expect(res.text).not.toContain('hunter2');
      expect(res.text).not.toContain('users.find');
      expectNoInternals(res.text);
    }
    expect(errors).toHaveLength(2);
    expect(errors[0]!.code).toBe(ErrorCodes.authStrategy);
    expect((errors[0]!.cause as Error).message).toContain('hunter2');
    expect(createServer).not.toHaveBeenCalled();
    // A strategy error is not an authentication failure.
    expect(harness.router.sessions.stats().authFailures).toBe(0);
  });

  it('answers 500 when verify returns a principal without an id', async () => {
    const errors: McpSseError[] = [];
    const harness = await withKeys({ verify: () => ({ role: 'admin' }) }, { onError: (error) => errors.push(error) });
    const res = await request(harness.baseUrl).get('/mcp/sse').set('X-API-Key', keyA);
    expectEnvelope(res, 500, 'auth_error');
    expect(errors.map((e) => e.code)).toEqual([ErrorCodes.authStrategy]);
  });
});

describe('identity inside an SDK v2 server', () => {
  it('reaches a v2 tool handler as ctx.http.authInfo, and createServer as SessionContext.user', async () => {
    const h = await withKeys({ keys: { 'v2-key-0123456789ab': 'v2-user' } }, { createServer: (session) => buildServerV2(session) });
    const client = await connectClient(h.sseUrl, { 'X-API-Key': 'v2-key-0123456789ab' });
    expect(await whoami(client)).toMatchObject({ clientId: 'v2-user', sessionUser: 'v2-user' });
  });
});
