// jwtStrategy() through the router: real HTTP, real SDK v1 client, tokens minted with jsonwebtoken.
import { createHmac } from 'node:crypto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import request from 'supertest';
import { jwtStrategy, type JwtStrategyOptions, type SessionContext } from '../../lib/index.js';
import { buildServerV1 } from '../helpers/server.js';
import { cleanup, connectClient, expectEnvelope, harnessWith, mintToken, openStream, ping, secret, unsignedToken, whoami } from './helpers.js';

afterEach(cleanup);

const withJwt = (options: Partial<JwtStrategyOptions> = {}, extra: Parameters<typeof harnessWith>[0] = {}) =>
  harnessWith({ auth: { strategies: [jwtStrategy({ secret, ...options })] }, ...extra });

const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });

describe('jwtStrategy: valid tokens', () => {
  it('opens a session whose tool sees clientId = sub, the scopes of the scope claim and SessionContext.user.id = sub', async () => {
    const contexts: SessionContext[] = [];
    const harness = await withJwt({}, { createServer: (session) => (contexts.push(session), buildServerV1(session)) });
    const client = await connectClient(harness.sseUrl, bearer(mintToken({ sub: 'user-42', scope: 'tools:read tools:call' })));
    expect(await whoami(client)).toEqual({ clientId: 'user-42', scopes: ['tools:read', 'tools:call'], sessionUser: 'user-42' });
    expect(contexts).toHaveLength(1);
    expect(contexts[0]!.user?.id).toBe('user-42');
    expect(contexts[0]!.authInfo).toMatchObject({ clientId: 'user-42', scopes: ['tools:read', 'tools:call'] });
    expect(harness.router.sessions.size).toBe(1);
  });

  it('accepts a token that expired within clockTolerance, and refuses it without', async () => {
    const justExpired = mintToken({ exp: Math.floor(Date.now() / 1000) - 5 });
    const tolerant = await withJwt({ clockTolerance: 60 });
    const opened = await openStream(tolerant.sseUrl, bearer(justExpired));
    expect(opened.status).toBe(200);
    expect(opened.sessionId).not.toBe('');

    const strict = await withJwt();
    const res = await request(strict.baseUrl).post('/mcp/messages?sessionId=x').set(bearer(justExpired)).send(ping());
    expectEnvelope(res, 401, 'token_expired');
  });
});

describe('jwtStrategy: refused tokens', () => {
  const cases: [string, () => Record<string, string>, string][] = [
    ['expired', () => bearer(mintToken({ exp: Math.floor(Date.now() / 1000) - 120 })), 'token_expired'],
    ['signed with another secret', () => bearer(mintToken({}, { key: 'another-secret-another-secret-another!!' })), 'invalid_credentials'],
    ['unsigned (alg: none)', () => bearer(unsignedToken()), 'invalid_credentials'],
    ['not a JWT at all', () => bearer('not.a.jwt'), 'invalid_credentials'],
    ['missing', () => ({}), 'missing_credentials'],
    ['in a Basic header', () => ({ Authorization: `Basic ${Buffer.from('a:b').toString('base64')}` }), 'missing_credentials'],
  ];

  it.each(cases)('%s → 401 on both routes, nothing opened', async (_name, headers, reason) => {
    const createServer = vi.fn(buildServerV1);
    const harness = await withJwt({}, { createServer });
    const post = await request(harness.baseUrl).post('/mcp/messages?sessionId=x').set(headers()).send(ping(3));
    expectEnvelope(post, 401, reason);
    expect(post.headers['www-authenticate']).toMatch(/^Bearer realm="mcp"/);
    const get = await request(harness.baseUrl).get('/mcp/sse').set(headers());
    expectEnvelope(get, 401, reason);
    expect(createServer).not.toHaveBeenCalled();
    expect(harness.router.sessions.stats().authFailures).toBe(2);
  });

  it('names the invalid token in the challenge only when a token was presented', async () => {
    const harness = await withJwt();
    const missing = await request(harness.baseUrl).get('/mcp/sse');
    expect(missing.headers['www-authenticate']).toBe('Bearer realm="mcp"');
    const bad = await request(harness.baseUrl).get('/mcp/sse').set(bearer('garbage'));
    expect(bad.headers['www-authenticate']).toBe('Bearer realm="mcp", error="invalid_token"');
  });

  it('refuses a token whose exp is not finite ("exp": 1e400 parses as Infinity: it would never expire)', async () => {
    const harness = await withJwt();
    const part = (text: string) => Buffer.from(text).toString('base64url');
    const body = `${part('{"alg":"HS256","typ":"JWT"}')}.${part('{"sub":"alice","exp":1e400}')}`;
    const token = `${body}.${createHmac('sha256', secret).update(body).digest('base64url')}`;
    const res = await request(harness.baseUrl).get('/mcp/sse').set(bearer(token));
    expectEnvelope(res, 401, 'invalid_credentials');
  });

  it('refuses a token without a sub claim', async () => {
    const harness = await withJwt();
    const token = mintToken({ sub: undefined });
    const res = await request(harness.baseUrl).get('/mcp/sse').set(bearer(token));
    expectEnvelope(res, 401, 'invalid_credentials');
  });

  it('refuses wrong issuer and wrong audience, accepts the right ones', async () => {
    const harness = await withJwt({ issuer: 'https://issuer.example', audience: 'mcp-api' });
    const wrongIssuer = mintToken({}, { issuer: 'https://evil.example', audience: 'mcp-api' });
    const wrongAudience = mintToken({}, { issuer: 'https://issuer.example', audience: 'other-api' });
    const noClaims = mintToken();
    for (const token of [wrongIssuer, wrongAudience, noClaims]) {
      expectEnvelope(await request(harness.baseUrl).get('/mcp/sse').set(bearer(token)), 401, 'invalid_credentials');
    }
    const good = await openStream(harness.sseUrl, bearer(mintToken({}, { issuer: 'https://issuer.example', audience: 'mcp-api' })));
    expect(good.status).toBe(200);
  });

  it('refuses to be created with alg none, or HMAC mixed with a public key', () => {
    expect(() => jwtStrategy({ secret, algorithms: ['none'] })).toThrow(TypeError);
    expect(() => jwtStrategy({ secret, algorithms: ['HS256', 'NONE'] })).toThrow(/none/);
    expect(() => jwtStrategy({ publicKey: '-----BEGIN PUBLIC KEY-----', algorithms: ['HS256'] })).toThrow(TypeError);
    expect(() => jwtStrategy({} as JwtStrategyOptions)).toThrow(/secret/);
    expect(() => jwtStrategy({ secret, requireExpiry: 'no' } as unknown as JwtStrategyOptions)).toThrow(
      /"requireExpiry" must be true or false, got "no"/,
    );
  });

  it('never echoes the presented token in the response', async () => {
    const harness = await withJwt();
    const token = mintToken({}, { key: 'another-secret-another-secret-another!!' });
    const res = await request(harness.baseUrl).get('/mcp/sse').set(bearer(token));
    expect(res.status).toBe(401);
    const everything = res.text + JSON.stringify(res.headers);
    for (const part of token.split('.')) expect(everything).not.toContain(part);
  });
});

describe('jwtStrategy: where the token comes from', () => {
  it('reads a query parameter only when queryParameter is configured, and keeps it out of the endpoint URL', async () => {
    const token = mintToken({ sub: 'browser-user' });
    const off = await withJwt();
    const refused = await request(off.baseUrl).get(`/mcp/sse?access_token=${token}`);
    expectEnvelope(refused, 401, 'missing_credentials');

    const on = await withJwt({ queryParameter: 'access_token' });
    const opened = await openStream(`${on.sseUrl}?access_token=${token}&tenant=t1`);
    expect(opened.status).toBe(200);
    expect(opened.endpoint).not.toContain('access_token');
    expect(opened.endpoint).not.toContain(token);
    const endpoint = new URL(opened.endpoint, on.baseUrl);
    expect(endpoint.pathname).toBe('/mcp/messages');
    expect(endpoint.searchParams.get('tenant')).toBe('t1');
    expect(endpoint.searchParams.get('sessionId')).toBe(opened.sessionId);
    const session = on.router.sessions.get(opened.sessionId);
    expect(session).toBeDefined();
    // The POST carries the token in the header; the session belongs to the token's sub.
    const res = await request(on.baseUrl).post(opened.endpoint).set(bearer(token)).send(ping());
    expect(res.status).toBe(202);
  });

  it('reads a custom header without the Bearer prefix when requireBearer is false', async () => {
    const harness = await withJwt({ headerName: 'X-Auth-Token', requireBearer: false });
    const token = mintToken({ sub: 'raw-header-user', scope: 'a' });
    const client = await connectClient(harness.sseUrl, { 'X-Auth-Token': token });
    expect(await whoami(client)).toEqual({ clientId: 'raw-header-user', scopes: ['a'], sessionUser: 'raw-header-user' });
    // The Authorization header is not read any more.
    expectEnvelope(await request(harness.baseUrl).get('/mcp/sse').set(bearer(token)), 401, 'missing_credentials');
  });

  it('requires the Bearer prefix by default', async () => {
    const harness = await withJwt();
    const res = await request(harness.baseUrl).get('/mcp/sse').set('Authorization', mintToken());
    expect(res.status).toBe(401);
  });
});
