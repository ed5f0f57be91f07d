// Token confusion against the hardening deployment: a JWT posing as an API-key principal, JWTs with `crit`,
// without `exp` or with a non-object payload. Each is refused; the real principal's sessions are untouched.
import { createHmac } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import jwt from 'jsonwebtoken';
import request from 'supertest';
import { jwtStrategy, type BusSession, type Delivery, type DeliveryResult, type SessionBus } from '../../lib/index.js';
import {
  cleanup,
  connectClient,
  expectEnvelope,
  expectStreamRefused,
  harnessWith,
  mintToken,
  openStream,
  ping,
  secret,
  whoami,
} from '../auth/helpers.js';
import { apiKeyPrincipalId, deploy, keyHolder } from './deployment.js';

afterEach(cleanup);

/** A JWT, properly signed with the deployment's secret, whose `sub` is the API-key holder's principal id. */
const impersonator = () => ({ Authorization: `Bearer ${mintToken({ sub: apiKeyPrincipalId })}` });

describe('principals are namespaced by strategy (hole 4)', () => {
  it("refuses a JWT with sub key:<hash> posting into the API-key holder's session", async () => {
    const harness = await deploy();
    const client = await connectClient(harness.sseUrl, keyHolder);
    const [session] = [...harness.router.sessions];
    const before = harness.router.sessions.stats().messagesIn;
    const stolen = await request(harness.baseUrl).post(`/mcp/messages?sessionId=${session!.sessionId}`).set(impersonator()).send(ping('spoof-1'));
    expectEnvelope(stolen, 403, 'forbidden_session', 'spoof-1');
    expect(harness.router.sessions.stats().messagesIn).toBe(before);
    // user.id stays what the strategies documented: both principals carry the same id, in different namespaces.
    expect(session!.user?.id).toBe(apiKeyPrincipalId);
    expect(await whoami(client)).toEqual({ clientId: apiKeyPrincipalId, scopes: [], sessionUser: apiKeyPrincipalId });
  });

  it("refuses the impersonator's resume of the key holder's dropped stream", async () => {
    const harness = await deploy();
    const opened = await openStream(harness.sseUrl, keyHolder);
    opened.close();
    await expect.poll(() => harness.router.sessions.stats().detached).toBe(1);
    const hijack = await openStream(harness.sseUrl, { ...impersonator(), 'Last-Event-ID': opened.endpointEventId });
    expectStreamRefused(hijack, 403, 'forbidden_session');
    const resumed = await openStream(harness.sseUrl, { ...keyHolder, 'Last-Event-ID': opened.endpointEventId });
    expect(resumed.status).toBe(200);
    expect(resumed.sessionId).toBe(opened.sessionId);
  });

  it("does not spend the key holder's maxSessionsPerUser quota", async () => {
    const harness = await deploy();
    // The impersonator fills its own quota (2) with live streams...
    for (let i = 0; i < 2; i++) expect((await openStream(harness.sseUrl, impersonator())).status).toBe(200);
    expectStreamRefused(await openStream(harness.sseUrl, impersonator()), 429, 'too_many_sessions');
    // ...and the key holder still gets both of its own.
    for (let i = 0; i < 2; i++) expect((await openStream(harness.sseUrl, keyHolder)).status).toBe(200);
    expect(harness.router.sessions.size).toBe(4);
  });

  it("does not spend the key holder's rate limit", async () => {
    const harness = await deploy({ rateLimit: { messages: { windowMs: 60_000, limit: 3 } } });
    const opened = await openStream(harness.sseUrl, keyHolder);
    for (let i = 0; i < 3; i++) await request(harness.baseUrl).post('/mcp/messages?sessionId=nope').set(impersonator()).send(ping(i));
    expectEnvelope(await request(harness.baseUrl).post('/mcp/messages?sessionId=nope').set(impersonator()).send(ping(9)), 429, 'rate_limited', null);
    expect((await request(harness.baseUrl).post(opened.endpoint).set(keyHolder).send(ping('mine'))).status).toBe(202);
  });

  it('keeps two strategies of the same kind apart: the same sub from two JWT issuers is two principals', async () => {
    const otherSecret = 'another-issuer-secret-of-32-bytes-or-more';
    const harness = await harnessWith({ auth: { strategies: [jwtStrategy({ secret }), jwtStrategy({ secret: otherSecret })] } });
    const aliceOfA = { Authorization: `Bearer ${mintToken({ sub: 'alice' })}` };
    const aliceOfB = { Authorization: `Bearer ${mintToken({ sub: 'alice' }, { key: otherSecret })}` };
    const opened = await openStream(harness.sseUrl, aliceOfA);
    expect(harness.router.sessions.get(opened.sessionId)?.principalId).toBe('jwt%230:alice');
    expectEnvelope(await request(harness.baseUrl).post(opened.endpoint).set(aliceOfB).send(ping('b-1')), 403, 'forbidden_session', 'b-1');
    expect((await request(harness.baseUrl).post(opened.endpoint).set(aliceOfA).send(ping('a-1'))).status).toBe(202);
  });

  it('hands the session bus the same strategy-qualified key on both sides, so a directory compares strategies too', async () => {
    const bus = new RecordingBus();
    const harness = await deploy({ bus });
    const keyStream = await openStream(harness.sseUrl, keyHolder);
    const jwtStream = await openStream(harness.sseUrl, impersonator());
    const stored = new Map(bus.opened.map((s) => [s.sessionId, s.principalId]));
    const keyKey = stored.get(keyStream.sessionId);
    const jwtKey = stored.get(jwtStream.sessionId);
    expect(keyKey).toEqual(expect.any(String));
    expect(jwtKey).toEqual(expect.any(String));
    expect(keyKey).not.toBe(jwtKey);
    expect(keyKey).toContain(apiKeyPrincipalId);
    // A POST for a session held elsewhere reaches the bus with the poster's key, comparable to the stored one.
    await request(harness.baseUrl).post('/mcp/messages?sessionId=elsewhere').set(keyHolder).send(ping(1));
    await request(harness.baseUrl).post('/mcp/messages?sessionId=elsewhere').set(impersonator()).send(ping(2));
    expect(bus.forwarded.map((d) => d.principalId)).toEqual([keyKey, jwtKey]);
  });
});

/** A bus for one process that records what the router tells it; sessions it does not hold are unknown. */
class RecordingBus implements SessionBus {
  readonly opened: BusSession[] = [];
  readonly forwarded: Delivery[] = [];
  attach(): void {}
  sessionOpened(session: BusSession): void {
    this.opened.push(session);
  }
  sessionClosed(): void {}
  async forward(_sessionId: string, delivery: Delivery): Promise<DeliveryResult> {
    this.forwarded.push(delivery);
    return 'unknown';
  }
  publishBroadcast(): void {}
  async close(): Promise<void> {}
}

/** Signs any payload text with HS256 and the deployment's secret, as a token factory gone wrong would. */
function signRaw(payload: string, header: object = { alg: 'HS256', typ: 'JWT' }): string {
  const part = (text: string) => Buffer.from(text).toString('base64url');
  const input = `${part(JSON.stringify(header))}.${part(payload)}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
}

describe('JWT edge cases (holes 3 and 7)', () => {
  it('refuses a signed token with a crit header with 401 on both routes', async () => {
    const harness = await deploy();
    const token = jwt.sign({ sub: 'alice' }, secret, {
      algorithm: 'HS256',
      expiresIn: '5m',
      header: { alg: 'HS256', crit: ['https://example.com/must-understand'], 'https://example.com/must-understand': true } as jwt.JwtHeader,
    });
    expect(jwt.verify(token, secret)).toMatchObject({ sub: 'alice' });
    expectStreamRefused(await openStream(harness.sseUrl, { Authorization: `Bearer ${token}` }), 401, 'invalid_credentials');
    expectEnvelope(
      await request(harness.baseUrl).post('/mcp/messages?sessionId=x').set('Authorization', `Bearer ${token}`).send(ping(1)),
      401,
      'invalid_credentials',
    );
    expect(harness.router.sessions.size).toBe(0);
  });

  it('refuses a signed token without exp by default, and takes it with requireExpiry: false', async () => {
    const forever = jwt.sign({ sub: 'alice' }, secret, { algorithm: 'HS256' });
    const harness = await deploy();
    expectStreamRefused(await openStream(harness.sseUrl, { Authorization: `Bearer ${forever}` }), 401, 'invalid_credentials');
    expect(harness.router.sessions.size).toBe(0);
    const lenient = await harnessWith({ auth: { strategies: [jwtStrategy({ secret, requireExpiry: false })] } });
    const opened = await openStream(lenient.sseUrl, { Authorization: `Bearer ${forever}` });
    expect(opened.status).toBe(200);
    expect(lenient.router.sessions.get(opened.sessionId)?.user?.id).toBe('alice');
  });

  it.each(['null', '"alice"', '[{"sub":"alice"}]', '42', 'not json'])('answers a signed token with payload %s with 401, not 500', async (payload) => {
    const harness = await deploy();
    const token = signRaw(payload);
    expectStreamRefused(await openStream(harness.sseUrl, { Authorization: `Bearer ${token}` }), 401, 'invalid_credentials');
    expectEnvelope(
      await request(harness.baseUrl).post('/mcp/messages?sessionId=x').set('Authorization', `Bearer ${token}`).send(ping(1)),
      401,
      'invalid_credentials',
    );
    expect(harness.router.sessions.stats().authFailures).toBe(2);
  });
});
