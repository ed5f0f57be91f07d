// A session belongs to the principal that opened it: POSTs and resumes by anyone else are refused.
import { afterEach, describe, expect, it } from 'vitest';
import request from 'supertest';
import { apiKeyStrategy, type AuthEndpoints } from '../../lib/index.js';
import { cleanup, connectClient, expectEnvelope, expectStreamRefused, harnessWith, openStream, ping, whoami } from '../auth/helpers.js';

afterEach(cleanup);

const keys = { 'sk-test-alice-000000000000': 'alice', 'sk-test-bob-11111111111111': 'bob' };
const alice = { 'X-API-Key': 'sk-test-alice-000000000000' };
const bob = { 'X-API-Key': 'sk-test-bob-11111111111111' };
const withKeys = (endpoints?: AuthEndpoints) =>
  harnessWith({ auth: { strategies: [apiKeyStrategy({ keys })], ...(endpoints ? { endpoints } : {}) } });

describe('principal binding', () => {
  it("refuses B's POST to A's session with 403 echoing the request id, and accepts A's", async () => {
    const harness = await withKeys();
    const opened = await openStream(harness.sseUrl, alice);
    expect(opened.status).toBe(200);
    expect(harness.router.sessions.get(opened.sessionId)?.user?.id).toBe('alice');
    // Binding compares the strategy too: passport-headerapikey's name, then the id.
    expect(harness.router.sessions.get(opened.sessionId)?.principalId).toBe('headerapikey:alice');

    const stolen = await request(harness.baseUrl).post(opened.endpoint).set(bob).send(ping('steal-7'));
    expectEnvelope(stolen, 403, 'forbidden_session', 'steal-7');
    const numeric = await request(harness.baseUrl).post(opened.endpoint).set(bob).send(ping(42));
    expectEnvelope(numeric, 403, 'forbidden_session', 42);
    expect(harness.router.sessions.stats().messagesIn).toBe(0);

    expect((await request(harness.baseUrl).post(opened.endpoint).set(alice).send(ping(1))).status).toBe(202);
    expect(harness.router.sessions.stats().messagesIn).toBe(1);
  });

  it("keeps a real SDK client working while another principal's POSTs to its session are refused", async () => {
    const harness = await withKeys();
    const client = await connectClient(harness.sseUrl, alice);
    const [session] = [...harness.router.sessions];
    const endpoint = `/mcp/messages?sessionId=${session!.sessionId}`;
    const call = { jsonrpc: '2.0', id: 99, method: 'tools/call', params: { name: 'whoami', arguments: {} } };
    expectEnvelope(await request(harness.baseUrl).post(endpoint).set(bob).send(call), 403, 'forbidden_session', 99);
    expect(await whoami(client)).toEqual({ clientId: 'alice', scopes: [], sessionUser: 'alice' });
  });

  it("refuses B's resume of A's dropped stream", async () => {
    const harness = await withKeys();
    const opened = await openStream(harness.sseUrl, alice);
    opened.close();
    await expect.poll(() => harness.router.sessions.stats().detached).toBe(1);
    const hijack = await openStream(harness.sseUrl, { ...bob, 'Last-Event-ID': opened.endpointEventId });
    expectStreamRefused(hijack, 403, 'forbidden_session');
    const resumed = await openStream(harness.sseUrl, { ...alice, 'Last-Event-ID': opened.endpointEventId });
    expect(resumed.status).toBe(200);
    expect(resumed.sessionId).toBe(opened.sessionId);
  });

  it('binds an anonymous session (SSE route unguarded) to its session id only', async () => {
    const harness = await withKeys({ sse: false, messages: true });
    const opened = await openStream(harness.sseUrl);
    expect(opened.status).toBe(200);
    expect(harness.router.sessions.get(opened.sessionId)?.principalId).toBeUndefined();
    // Any authenticated principal holding the session id may post; the route itself still needs credentials.
    expect((await request(harness.baseUrl).post(opened.endpoint).set(alice).send(ping(1))).status).toBe(202);
    expect((await request(harness.baseUrl).post(opened.endpoint).set(bob).send(ping(2))).status).toBe(202);
    expectEnvelope(await request(harness.baseUrl).post(opened.endpoint).send(ping(3)), 401, 'missing_credentials');
    // Without the id there is nothing to post to.
    const guessed = await request(harness.baseUrl).post('/mcp/messages?sessionId=00000000-0000-4000-8000-000000000000').set(alice).send(ping(4));
    expectEnvelope(guessed, 404, 'session_not_found', 4);
  });

  it('gives every session an unguessable id', async () => {
    const harness = await withKeys({ sse: false, messages: false });
    const ids = new Set<string>();
    for (let i = 0; i < 5; i++) ids.add((await openStream(harness.sseUrl)).sessionId);
    expect(ids.size).toBe(5);
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });
});
