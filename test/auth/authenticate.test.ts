// The auth middleware through the router: 401 envelopes, per-route toggles, strategy chains, foreign strategies,
// and the app's global passport left alone.
import { afterEach, describe, expect, it, vi } from 'vitest';
import request from 'supertest';
import express, { type Request } from 'express';
import passport from 'passport';
import { Strategy as PassportStrategy } from 'passport-strategy';
import { apiKeyStrategy, jwtStrategy, type AuthEndpoints, type SessionContext } from '../../lib/index.js';
import { buildServerV1 } from '../helpers/server.js';
import { cleanup, connectClient, expectEnvelope, expectStreamRefused, harnessWith, mintToken, openStream, ping, secret, whoami } from './helpers.js';

afterEach(cleanup);

const apiKey = 'sk-test-authenticate-0123456789';

/** A foreign strategy: trusts an `X-User` header (as a gateway in front of the app would set it). */
class HeaderUserStrategy extends PassportStrategy {
  name = 'header-user';
  override authenticate(req: Request): void {
    const user = req.headers['x-user'];
    if (typeof user === 'string' && user !== '') this.success({ username: user, role: 'gateway' }, { scope: 'gateway:all' });
    else this.fail(401);
  }
}

/** A strategy that passes without deciding when it has nothing to say (as passport-anonymous does). */
class PassingStrategy extends PassportStrategy {
  name = 'passing';
  override authenticate(): void {
    this.pass();
  }
}

describe('every 401', () => {
  it('is a JSON-RPC envelope with one challenge per strategy, naming each scheme', async () => {
    const harness = await harnessWith({
      auth: { strategies: [jwtStrategy({ secret }), apiKeyStrategy({ keys: [apiKey] }), new HeaderUserStrategy()] },
    });
    const res = await request(harness.baseUrl).post('/mcp/messages?sessionId=abc').send(ping('req-1'));
    // The auth middleware runs before the body is read, so the id is not known yet.
    expectEnvelope(res, 401, 'missing_credentials');
    const challenge = res.headers['www-authenticate']!;
    expect(challenge).toContain('Bearer realm="mcp"');
    expect(challenge).toContain('ApiKey header="X-API-Key"');
  });

  it('marks only the strategies that saw a bad credential with error="invalid_token"', async () => {
    const harness = await harnessWith({ auth: { strategies: [jwtStrategy({ secret }), apiKeyStrategy({ keys: [apiKey] })] } });
    const wrongKey = await request(harness.baseUrl).get('/mcp/sse').set('X-API-Key', 'wrong');
    expectEnvelope(wrongKey, 401, 'invalid_credentials');
    expect(wrongKey.headers['www-authenticate']).toBe('Bearer realm="mcp", ApiKey header="X-API-Key"');
    const expired = await request(harness.baseUrl)
      .get('/mcp/sse')
      .set('Authorization', `Bearer ${mintToken({ exp: 1 })}`);
    expectEnvelope(expired, 401, 'token_expired');
    expect(expired.headers['www-authenticate']).toBe('Bearer realm="mcp", error="invalid_token", ApiKey header="X-API-Key"');
  });

  it('echoes nothing of any presented credential', async () => {
    const harness = await harnessWith({ auth: { strategies: [jwtStrategy({ secret }), apiKeyStrategy({ keys: [apiKey] })] } });
    const badToken = mintToken({ sub: 'secret-subject' }, { key: 'wrong-secret-wrong-secret-wrong-secret!' });
    const badKey = 'sk-test-presented-but-wrong-987654';
    const res = await request(harness.baseUrl).get('/mcp/sse').set('Authorization', `Bearer ${badToken}`).set('X-API-Key', badKey);
    expectEnvelope(res, 401, 'invalid_credentials');
    const everything = res.text + JSON.stringify(res.headers);
    expect(everything).not.toContain(badKey);
    expect(everything).not.toContain('secret-subject');
    for (const part of badToken.split('.')) expect(everything).not.toContain(part);
  });
});

describe('auth.endpoints toggles', () => {
  const combos: AuthEndpoints[] = [
    { sse: true, messages: true },
    { sse: false, messages: true },
    { sse: true, messages: false },
    { sse: false, messages: false },
  ];

  it.each(combos)('sse: $sse, messages: $messages guards exactly those routes', async (endpoints) => {
    const createServer = vi.fn((session: SessionContext) => buildServerV1(session));
    const harness = await harnessWith({ createServer, auth: { strategies: [apiKeyStrategy({ keys: { [apiKey]: 'toggler' } })], endpoints } });
    const auth = { 'X-API-Key': apiKey };

    // GET without credentials: refused only when the SSE route is guarded.
    const anonymous = await openStream(harness.sseUrl);
    expect(anonymous.status).toBe(endpoints.sse ? 401 : 200);
    if (!endpoints.sse) expect(createServer.mock.calls[0]![0].user).toBeUndefined();

    // A session to POST to (opened with credentials when needed).
    const opened = endpoints.sse ? await openStream(harness.sseUrl, auth) : anonymous;
    expect(opened.status).toBe(200);
    expect(createServer.mock.lastCall![0].user?.id).toBe(endpoints.sse ? 'toggler' : undefined);

    // POST without credentials: refused only when the messages route is guarded.
    const unauthenticated = await request(harness.baseUrl).post(opened.endpoint).send(ping());
    if (endpoints.messages) {
      expectEnvelope(unauthenticated, 401, 'missing_credentials');
      expect(unauthenticated.headers['www-authenticate']).toBe('ApiKey header="X-API-Key"');
    } else {
      expect(unauthenticated.status).toBe(202);
    }
    // POST with credentials always reaches the session.
    expect((await request(harness.baseUrl).post(opened.endpoint).set(auth).send(ping())).status).toBe(202);
    expect(harness.router.sessions.stats().authFailures).toBe(Number(endpoints.sse ?? true) + Number(endpoints.messages ?? true));
  });
});

describe('strategy chains', () => {
  it('falls through a failing JWT strategy to a succeeding API key strategy', async () => {
    const harness = await harnessWith({ auth: { strategies: [jwtStrategy({ secret }), apiKeyStrategy({ keys: { [apiKey]: 'second-strategy' } })] } });
    const client = await connectClient(harness.sseUrl, { 'X-API-Key': apiKey });
    expect(await whoami(client)).toEqual({ clientId: 'second-strategy', scopes: [], sessionUser: 'second-strategy' });
    // An invalid JWT next to a valid key still authenticates: the key strategy is tried after the JWT one fails.
    const both = await openStream(harness.sseUrl, { Authorization: 'Bearer not-a-token', 'X-API-Key': apiKey });
    expect(both.status).toBe(200);
    // The first success wins: a valid JWT and a valid key give the JWT's subject.
    const jwtFirst = await openStream(harness.sseUrl, { Authorization: `Bearer ${mintToken({ sub: 'jwt-user' })}`, 'X-API-Key': apiKey });
    expect(harness.router.sessions.get(jwtFirst.sessionId)?.principalId).toBe('jwt:jwt-user');
  });

  it('runs a foreign Passport strategy and hands its user id to the tool', async () => {
    const harness = await harnessWith({ auth: { strategies: [jwtStrategy({ secret }), new HeaderUserStrategy()] } });
    const client = await connectClient(harness.sseUrl, { 'X-User': 'gateway-carol' });
    expect(await whoami(client)).toEqual({ clientId: 'gateway-carol', scopes: ['gateway:all'], sessionUser: 'gateway-carol' });
    const refused = await request(harness.baseUrl).get('/mcp/sse');
    expectEnvelope(refused, 401, 'missing_credentials');
    // A foreign strategy without hints gets a Bearer challenge.
    expect(refused.headers['www-authenticate']).toBe('Bearer realm="mcp", Bearer realm="mcp"');
  });

  it('treats a strategy that passes without deciding as unauthenticated on a guarded route', async () => {
    const createServer = vi.fn(buildServerV1);
    const harness = await harnessWith({ createServer, auth: { strategies: [new PassingStrategy()] } });
    // fetch, not supertest: were the guard bypassed, this would be an open stream.
    const opened = await openStream(harness.sseUrl);
    expectStreamRefused(opened, 401, 'missing_credentials');
    expectEnvelope(await request(harness.baseUrl).post('/mcp/messages?sessionId=x').send(ping()), 401, 'missing_credentials');
    expect(createServer).not.toHaveBeenCalled();
    expect(harness.router.sessions.size).toBe(0);
  });
});

/** A strategy doing what its `x-act` header says, each the way a Passport strategy may. */
class ScriptedStrategy extends PassportStrategy {
  name = 'scripted';
  override authenticate(req: Request): void {
    const act = req.headers['x-act'];
    if (act === 'forbid') return this.fail(403);
    if (act === 'throw') throw new Error('strategy bug');
    if (act === 'error') return this.error(new Error('store down'));
    if (act === 'redirect') return this.redirect('https://login.example.com/', 303);
    if (act === 'later') {
      setImmediate(() => this.success({ id: 'later-user' }));
      return;
    }
    if (act === 'twice') {
      // A buggy strategy: it refuses, then succeeds, then redirects on a later tick. Only its first action counts.
      this.fail(403);
      this.success({ id: 'second-thought' });
      setImmediate(() => this.redirect('https://login.example.com/'));
      return;
    }
    this.fail('Scripted realm="mcp"', 401);
  }
}

describe("the router's strategy chain (Passport's actions, without Passport's middleware)", () => {
  it('answers fail(403), a throwing strategy, error() and redirect() as Passport would, and waits for an async success', async () => {
    const onError = vi.fn();
    const harness = await harnessWith({ onError, auth: { strategies: [jwtStrategy({ secret }), new ScriptedStrategy()] } });
    const post = (act: string) => request(harness.baseUrl).post('/mcp/messages?sessionId=x').set('X-Act', act).send(ping());
    // A status alone is the status: 403, not a 401 asking to log in.
    expectEnvelope(await post('forbid'), 403, 'forbidden');
    // A strategy that throws and one that calls error() are the same 500, reported, with no stack in the body.
    const thrown = await post('throw');
    expectEnvelope(thrown, 500, 'auth_error');
    expect(thrown.text).not.toContain('strategy bug');
    expectEnvelope(await post('error'), 500, 'auth_error');
    expect(onError).toHaveBeenCalledTimes(2);
    expect(onError.mock.calls.map(([error]) => error.code)).toEqual(['ERR_MCP_SSE_AUTH_STRATEGY', 'ERR_MCP_SSE_AUTH_STRATEGY']);
    const redirected = await post('redirect');
    expect(redirected.status).toBe(303);
    expect(redirected.headers.location).toBe('https://login.example.com/');
    // The JWT strategy failed first; the second succeeds on a later tick: its principal is the session's.
    const opened = await openStream(harness.sseUrl, { 'X-Act': 'later' });
    expect(opened.status).toBe(200);
    expect(harness.router.sessions.get(opened.sessionId)?.principalId).toBe('scripted:later-user');
    // A strategy acting twice is heard once: 403, nothing run or written after it (an unhandled write ends the run).
    const twice = await post('twice');
    expectEnvelope(twice, 403, 'forbidden');
    await new Promise((resolve) => setImmediate(resolve));
    expect(harness.router.sessions.size).toBe(1);
    // Both strategies failed: one challenge each (a foreign strategy without hints gets a Bearer one).
    const refused = await post('nothing');
    expectEnvelope(refused, 401, 'missing_credentials');
    expect(refused.headers['www-authenticate']).toBe('Bearer realm="mcp", Bearer realm="mcp"');
    expect(harness.router.sessions.stats().authFailures).toBe(3);
  });
});

describe('bad credentials', () => {
  it('never create a session or an MCP server, and count as auth failures', async () => {
    const createServer = vi.fn(buildServerV1);
    const harness = await harnessWith({ createServer, auth: { strategies: [jwtStrategy({ secret }), apiKeyStrategy({ keys: [apiKey] })] } });
    const attempts: Record<string, string>[] = [
      {},
      { Authorization: 'Bearer x.y.z' },
      { Authorization: `Bearer ${mintToken({}, { key: 'wrong-secret-wrong-secret-wrong-secret!' })}` },
      { 'X-API-Key': 'nope' },
    ];
    for (const headers of attempts) expect((await openStream(harness.sseUrl, headers)).status).toBe(401);
    expect(createServer).not.toHaveBeenCalled();
    expect(harness.router.sessions.size).toBe(0);
    expect(harness.router.sessions.stats()).toMatchObject({ authFailures: attempts.length, opened: 0, active: 0, detached: 0 });
  });
});

describe("the app's global passport", () => {
  it('gets no strategies from the router, and an app using passport.initialize() keeps working', async () => {
    type WithStrategies = typeof passport & { _strategies: Record<string, unknown> };
    const before = Object.keys((passport as WithStrategies)._strategies);
    passport.use('app-own', new HeaderUserStrategy());
    try {
      const harness = await harnessWith({
        auth: { strategies: [jwtStrategy({ secret }), apiKeyStrategy({ keys: [apiKey] })] },
        before: (app) => {
          app.use(passport.initialize());
          app.get('/app/me', passport.authenticate('app-own', { session: false }), (req, res) => {
            res.json({ user: req.user });
          });
          app.use(express.json());
        },
      });
      expect(Object.keys((passport as WithStrategies)._strategies).sort()).toEqual([...before, 'app-own'].sort());
      // The app's own route still authenticates with the global instance.
      const me = await request(harness.baseUrl).get('/app/me').set('X-User', 'dave');
      expect(me.status).toBe(200);
      expect(me.body.user.username).toBe('dave');
      expect((await request(harness.baseUrl).get('/app/me')).status).toBe(401);
      // The router authenticates with its own strategies, which the app's global one does not know.
      const client = await connectClient(harness.sseUrl, { Authorization: `Bearer ${mintToken({ sub: 'erin' })}` });
      expect((await whoami(client)).clientId).toBe('erin');
      expect((await request(harness.baseUrl).get('/mcp/sse').set('X-User', 'dave')).status).toBe(401);
    } finally {
      passport.unuse('app-own');
    }
    expect(Object.keys((passport as WithStrategies)._strategies)).toEqual(before);
  });
});
