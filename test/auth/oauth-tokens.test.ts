// What oauthStrategy refuses and why, against a real authorization server (oidc-provider): each bad token a clear
// 401 that leaks nothing; key rotation and retirement; the key set fetched rarely however many forged tokens arrive;
// discovery, and an authorization server that cannot be reached.
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createPublicKey, createHmac, randomUUID } from 'node:crypto';
import { decodeJwt, decodeProtectedHeader, generateKeyPair, SignJWT, type JWTPayload } from 'jose';
import type { McpSseError } from '../../lib/index.js';
import { discoverJwksUri, keyTimings, KeySetUnavailableError } from '../../lib/auth/jwks.js';
import { startAuthorizationServer, type AuthorizationServer } from './authorization-server.js';
import { callText, connectV1, connectV2, startOAuthApp, type AnyClient, type OAuthApp } from './oauth-app.js';
import { expectEnvelope, expectNoInternals, headersObject } from './helpers.js';

const now = () => Math.floor(Date.now() / 1000);

interface Probe {
  status: number;
  challenge: string;
  text: string;
  headers: Record<string, string>;
}

/** GETs the stream with `Authorization` (a 200 is closed at once), or POSTs a message when `post` is set. */
async function probe(app: OAuthApp, authorization?: string, options: { post?: boolean; query?: string } = {}): Promise<Probe> {
  const headers: Record<string, string> = authorization === undefined ? {} : { Authorization: authorization };
  const response = options.post
    ? await fetch(`${app.messagesUrl}?sessionId=s${options.query ?? ''}`, {
        method: 'POST',
        headers: { ...headers, 'Content-Type': 'application/json' },
        body: '{"jsonrpc":"2.0","id":1,"method":"ping"}',
      })
    : await fetch(`${app.sseUrl}${options.query ?? ''}`, { headers });
  if (response.status === 200) {
    await response.body?.cancel();
    return { status: 200, challenge: '', text: '', headers: headersObject(response.headers) };
  }
  return {
    status: response.status,
    challenge: response.headers.get('www-authenticate') ?? '',
    text: await response.text(),
    headers: headersObject(response.headers),
  };
}

const bearer = (token: string) => `Bearer ${token}`;

/**
 * Signs `payload` with a key the authorization server never published, as an attacker would: ES256 by default (fast
 * to sign), RS256 to pose as the server's own RSA key.
 */
async function forge(payload: JWTPayload, header: Record<string, unknown> = {}, alg: 'ES256' | 'RS256' = 'ES256'): Promise<string> {
  const { privateKey } = (attackerKeys[alg] ??= await generateKeyPair(alg));
  return new SignJWT(payload).setProtectedHeader({ alg, typ: 'at+jwt', kid: randomUUID(), ...header }).sign(privateKey);
}
const attackerKeys: Partial<Record<string, Awaited<ReturnType<typeof generateKeyPair>>>> = {};

const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');

describe('tokens refused, each a clear 401 that leaks nothing', () => {
  let as: AuthorizationServer;
  let otherAs: AuthorizationServer;
  let app: OAuthApp;
  const scope = 'mcp:tools';

  beforeAll(async () => {
    [as, otherAs] = await Promise.all([startAuthorizationServer(), startAuthorizationServer()]);
    app = await startOAuthApp({ as, oauth: { scopes: ['mcp:tools'] } });
  });
  afterAll(async () => {
    await app.close();
    await Promise.all([as.close(), otherAs.close()]);
  });
  afterEach(() => {
    as.customize = undefined;
  });

  /** A token from the real authorization server for this resource, altered as it is signed when `customize` is given. */
  const issued = async (customize?: AuthorizationServer['customize']): Promise<string> => {
    as.customize = customize;
    try {
      return await as.token({ resource: app.resource, scope });
    } finally {
      as.customize = undefined;
    }
  };

  it('accepts the genuine token (the baseline every refusal differs from)', async () => {
    expect((await probe(app, bearer(await issued()))).status).toBe(200);
    expect((await probe(app, `bearer ${await issued()}`)).status).toBe(200);
  });

  const cases: { name: string; token: () => Promise<string>; description: string; reason?: string }[] = [
    {
      name: 'for another resource (audience)',
      token: () => as.token({ resource: 'http://127.0.0.1:1/other', scope }),
      description: 'The access token is not meant for this resource (audience).',
    },
    {
      name: 'from another authorization server',
      token: () => otherAs.token({ resource: app.resource, scope }),
      description: 'The access token was issued by another authorization server.',
    },
    {
      name: 'expired an hour ago',
      token: () => issued((_c, jwt) => void (jwt.payload.exp = now() - 3600)),
      description: 'The access token expired.',
      reason: 'token_expired',
    },
    {
      name: 'not valid yet (nbf in an hour)',
      token: () => issued((_c, jwt) => void (jwt.payload.nbf = now() + 3600)),
      description: 'The access token is not valid yet (nbf).',
    },
    {
      name: 'issued in the future (iat in an hour)',
      token: () => issued((_c, jwt) => Object.assign(jwt.payload, { iat: now() + 3600, exp: now() + 7200 })),
      description: 'The access token is not valid yet (issued in the future).',
    },
    {
      name: 'without exp',
      token: () => issued((_c, jwt) => void delete jwt.payload.exp),
      description: 'The access token has no valid expiry (exp).',
    },
    { name: 'without sub', token: () => issued((_c, jwt) => void delete jwt.payload.sub), description: 'The access token has no subject (sub).' },
    {
      name: 'of another type (typ dpop+jwt)',
      token: () => issued((_c, jwt) => void (jwt.header = { typ: 'dpop+jwt' })),
      description: 'The token is not an access token (its typ header).',
    },
    {
      name: 'with a crit header',
      token: () => issued((_c, jwt) => void (jwt.header = { crit: ['b64'], b64: true })),
      description: 'The access token has critical header parameters, which are not supported.',
    },
    {
      name: 'with alg none',
      token: async () => {
        const genuine = await issued();
        return `${part({ ...decodeProtectedHeader(genuine), alg: 'none' })}.${genuine.split('.')[1]}.`;
      },
      description: "The access token's signing algorithm is not accepted.",
    },
    {
      name: 'HS256-signed with the public key (algorithm confusion)',
      token: async () => {
        const genuine = await issued();
        const pem = createPublicKey({ key: as.publicJwk as never, format: 'jwk' }).export({ type: 'spki', format: 'pem' });
        const input = `${part({ ...decodeProtectedHeader(genuine), alg: 'HS256' })}.${genuine.split('.')[1]}`;
        return `${input}.${createHmac('sha256', pem).update(input).digest('base64url')}`;
      },
      description: "The access token's signing algorithm is not accepted.",
    },
    {
      name: 'signed with an unknown key (kid)',
      token: async () => forge(decodeJwt(await issued())),
      description: 'The access token was signed with a key the authorization server does not publish.',
    },
    {
      name: 'signed with an unknown key under a published kid',
      token: async () => forge(decodeJwt(await issued()), { kid: as.currentKid }, 'RS256'),
      description: "The access token's signature is invalid.",
    },
    {
      name: 'with a payload changed after signing',
      token: async () => {
        const [header, payload, signature] = (await issued()).split('.');
        const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString()) as Record<string, unknown>;
        return `${header}.${part({ ...claims, sub: 'admin' })}.${signature}`;
      },
      description: "The access token's signature is invalid.",
    },
    { name: 'an OpenID Connect ID token', token: () => as.idToken(), description: 'The access token is not meant for this resource (audience).' },
    { name: 'garbage', token: async () => 'garbage', description: 'The access token is not a signed JWT.' },
    { name: 'three parts of garbage', token: async () => 'abc.def.ghi', description: 'The access token is not a well-formed JWT.' },
    { name: 'an encrypted token (JWE)', token: async () => 'a.b.c.d.e', description: 'The access token is not a signed JWT.' },
  ];

  it.each(cases)('refuses a token $name', async ({ token: make, description, reason = 'invalid_credentials' }) => {
    const token = await make();
    for (const post of [false, true]) {
      const result = await probe(app, bearer(token), { post });
      expectEnvelope({ status: result.status, headers: result.headers, text: result.text }, 401, reason);
      expect(result.challenge).toBe(
        `Bearer scope="mcp:tools", resource_metadata="${app.baseUrl}/.well-known/oauth-protected-resource/api/mcp", error="invalid_token", error_description="${description}"`,
      );
      // Nothing of the token or its claims comes back.
      expect(result.text).not.toContain(token.slice(0, 20));
      expect(result.text + result.challenge).not.toMatch(/mcp-client|127\.0\.0\.1:1\/|"sub"|eyJ/);
      expectNoInternals(result.text);
    }
  });

  it('refuses an empty or malformed Bearer header as a presented but invalid token', async () => {
    for (const header of ['Bearer', 'Bearer ', 'Bearer a b']) {
      const result = await probe(app, header);
      expect({ header, status: result.status, error: /error="invalid_token"/.test(result.challenge) }).toEqual({ header, status: 401, error: true });
    }
  });

  it('never reads a token from the query string, and never treats it as presented', async () => {
    const token = await issued();
    for (const post of [false, true]) {
      const result = await probe(app, undefined, { post, query: `${post ? '&' : '?'}access_token=${token}` });
      expectEnvelope({ status: result.status, headers: result.headers, text: result.text }, 401, 'missing_credentials');
      expect(result.challenge).toBe(`Bearer scope="mcp:tools", resource_metadata="${app.baseUrl}/.well-known/oauth-protected-resource/api/mcp"`);
      expect(result.text).not.toContain(token.slice(0, 20));
    }
  });

  it('accepts the typ values of RFC 9068 and plain JWT, and no typ at all', async () => {
    for (const typ of ['at+jwt', 'application/at+jwt', 'AT+JWT', 'JWT', undefined]) {
      const token = await issued((_c, jwt) => void (jwt.header = typ === undefined ? { typ: undefined } : { typ }));
      expect({ typ, header: decodeProtectedHeader(token).typ, status: (await probe(app, bearer(token))).status }).toEqual({
        typ,
        header: typ,
        status: 200,
      });
    }
  });

  it('takes authInfo.clientId from client_id, else azp, else sub; the principal is always sub', async () => {
    const cases: [(payload: Record<string, unknown>) => void, string][] = [
      [() => undefined, 'mcp-client'],
      [(payload) => Object.assign(payload, { client_id: undefined, azp: 'web-app' }), 'web-app'],
      [(payload) => Object.assign(payload, { client_id: undefined, sub: 'alice' }), 'alice'],
    ];
    for (const [change, clientId] of cases) {
      const token = await issued((_c, jwt) => change(jwt.payload));
      expect((await probe(app, bearer(token))).status).toBe(200);
      const session = app.sessions.at(-1)!;
      expect({ clientId: session.authInfo?.clientId, user: session.user?.id }).toEqual({ clientId, user: decodeJwt(token).sub });
    }
  });

  it("never fetched the other authorization server's keys: a foreign token is refused before any key lookup", () => {
    expect(otherAs.jwksFetches).toBe(0);
    expect(otherAs.metadataFetches).toBe(0);
  });
});

describe('clock tolerance', () => {
  let as: AuthorizationServer;
  const apps: OAuthApp[] = [];
  beforeAll(async () => {
    as = await startAuthorizationServer();
  });
  afterAll(async () => {
    await Promise.all(apps.map((a) => a.close()));
    await as.close();
  });

  /** The status for a token from the real server with its claims shifted as given. */
  const statusFor = async (app: OAuthApp, claims: (iat: number) => Record<string, number>): Promise<number> => {
    as.customize = (_c, jwt) => void Object.assign(jwt.payload, claims(now()));
    const token = await as.token({ resource: app.resource });
    as.customize = undefined;
    return (await probe(app, bearer(token))).status;
  };

  it('spares tokens that look early by up to 30 s by default (an authorization server clock ahead), configurable to 0', async () => {
    const lenient = await startOAuthApp({ as });
    const strict = await startOAuthApp({ as, oauth: { clockToleranceSec: 0 } });
    apps.push(lenient, strict);
    expect(await statusFor(lenient, (t) => ({ nbf: t + 10 }))).toBe(200);
    expect(await statusFor(lenient, (t) => ({ iat: t + 10 }))).toBe(200);
    expect(await statusFor(strict, (t) => ({ nbf: t + 10 }))).toBe(401);
    expect(await statusFor(strict, (t) => ({ iat: t + 10 }))).toBe(401);
    expect(await statusFor(lenient, (t) => ({ nbf: t + 60 }))).toBe(401);
    expect(await statusFor(lenient, (t) => ({ iat: t + 60 }))).toBe(401);
  });

  it('gives expiry no tolerance: a token expired a second ago is refused, so the client fetches a new one', async () => {
    const lenient = await startOAuthApp({ as, oauth: { clockToleranceSec: 300 } });
    apps.push(lenient);
    expect(await statusFor(lenient, (t) => ({ exp: t - 1 }))).toBe(401);
    expect(await statusFor(lenient, (t) => ({ exp: t + 5 }))).toBe(200);
  });
});

describe('key rotation', () => {
  let as: AuthorizationServer;
  let app: OAuthApp;
  const clients: AnyClient[] = [];
  beforeAll(async () => {
    as = await startAuthorizationServer({ accessTokenTTL: 3600 });
    app = await startOAuthApp({ as, oauth: { scopes: ['mcp:tools'] } });
  });
  afterAll(async () => {
    vi.useRealTimers();
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    await app.close();
    await as.close();
  });

  it('a new key works at once; old tokens keep working until the old key is retired and the cached set expires', async () => {
    const before = await connectV1(app.sseUrl, as, as.client, 'mcp:tools');
    clients.push(before);
    const oldToken = await as.token({ resource: app.resource, scope: 'mcp:tools' });
    const oldKid = as.currentKid;
    expect(as.jwksFetches).toBe(1);

    const newKid = await as.rotateKey();
    const newToken = await as.token({ resource: app.resource, scope: 'mcp:tools' });
    expect(decodeProtectedHeader(newToken).kid).toBe(newKid);
    expect((await probe(app, bearer(newToken))).status).toBe(200);
    expect(as.jwksFetches).toBe(2);
    const after = await connectV2(app.sseUrl, as);
    clients.push(after);
    expect(await callText(after, 'echo', { text: 'new key' })).toBe('new key');

    // The old key is still published: old tokens and the client holding one carry on.
    expect(decodeProtectedHeader(oldToken).kid).toBe(oldKid);
    expect((await probe(app, bearer(oldToken))).status).toBe(200);
    expect(await callText(before, 'echo', { text: 'old key' })).toBe('old key');

    // Retired upstream: still trusted from the cached set until it is refetched (the documented window).
    await as.retireOldKeys();
    expect((await probe(app, bearer(oldToken))).status).toBe(200);
    expect(as.jwksFetches).toBe(2);

    // Past the cache's age the set is fetched again and the retired key is gone.
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + keyTimings.maxAgeMs + 1000);
    const refused = await probe(app, bearer(oldToken));
    expect(refused.status).toBe(401);
    expect(refused.challenge).toContain('error_description="The access token was signed with a key the authorization server does not publish."');
    expect(as.jwksFetches).toBe(3);
    expect((await probe(app, bearer(newToken))).status).toBe(200);
    // The SDK client holding an old-key token gets a 401, fetches a new token by itself and goes on in its session.
    const tokensBefore = as.tokenRequests;
    expect(await callText(before, 'echo', { text: 'after retirement' })).toBe('after retirement');
    expect(as.tokenRequests - tokensBefore).toBe(1);
    expect(as.jwksFetches).toBe(3);
    vi.useRealTimers();
  });
});

describe('key set fetches under a flood of forged tokens', () => {
  let as: AuthorizationServer;
  let app: OAuthApp;
  beforeAll(async () => {
    as = await startAuthorizationServer();
    app = await startOAuthApp({ as });
  });
  afterAll(async () => {
    vi.useRealTimers();
    await app.close();
    await as.close();
  });

  /** Sends `tokens` fifty at a time and returns the statuses. */
  const flood = async (tokens: string[]): Promise<number[]> => {
    const statuses: number[] = [];
    for (let i = 0; i < tokens.length; i += 50) {
      statuses.push(...(await Promise.all(tokens.slice(i, i + 50).map(async (t) => (await probe(app, bearer(t))).status))));
    }
    return statuses;
  };

  it('shares one discovery and one key-set fetch among concurrent first requests', async () => {
    const token = await as.token({ resource: app.resource });
    const statuses = await Promise.all(Array.from({ length: 40 }, () => probe(app, bearer(token)).then((r) => r.status)));
    expect(new Set(statuses)).toEqual(new Set([200]));
    expect(as.metadataFetches).toBe(1);
    expect(as.jwksFetches).toBe(1);
  });

  it('fetches the key set at most once more for 500 tokens with random kids, then once per cooldown', async () => {
    const claims = decodeJwt(await as.token({ resource: app.resource }));
    const forged = await Promise.all(Array.from({ length: 500 }, () => forge(claims)));
    expect(new Set(await flood(forged))).toEqual(new Set([401]));
    expect(as.jwksFetches).toBe(2);

    // Tokens from elsewhere, or not even JWTs, never reach the key set.
    const foreign = await Promise.all(Array.from({ length: 100 }, () => forge({ ...claims, iss: 'https://evil.example.com' })));
    expect(new Set(await flood([...foreign, ...Array.from({ length: 100 }, (_, i) => `garbage${i}`)]))).toEqual(new Set([401]));
    expect(as.jwksFetches).toBe(2);

    // Genuine tokens still pass without a fetch (their kid is known).
    expect((await probe(app, bearer(await as.token({ resource: app.resource })))).status).toBe(200);
    expect(as.jwksFetches).toBe(2);

    // The price: a rotation during the cooldown waits for it; after it, one fetch serves the new key.
    await as.rotateKey();
    const rotated = await as.token({ resource: app.resource });
    expect((await probe(app, bearer(rotated))).status).toBe(401);
    expect(as.jwksFetches).toBe(2);
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + keyTimings.missCooldownMs + 1000);
    expect((await probe(app, bearer(rotated))).status).toBe(200);
    expect(as.jwksFetches).toBe(3);
    // A refetch that found a new key ends the cooldown, so the next flood costs one more fetch, and no more.
    const later = await Promise.all(Array.from({ length: 200 }, () => forge({ ...claims, exp: now() + 300 })));
    expect(new Set(await flood(later))).toEqual(new Set([401]));
    expect(as.jwksFetches).toBe(4);
    vi.useRealTimers();
  });
});

describe('discovery and an unreachable authorization server', () => {
  it('skips discovery when jwksUri is given', async () => {
    const as = await startAuthorizationServer();
    const app = await startOAuthApp({ as, oauth: { jwksUri: as.jwksUrl } });
    try {
      expect((await probe(app, bearer(await as.token({ resource: app.resource })))).status).toBe(200);
      expect(as.metadataFetches).toBe(0);
      expect(as.jwksFetches).toBe(1);
    } finally {
      await app.close();
      await as.close();
    }
  });

  it('refuses metadata that names another issuer (RFC 8414 §3.3)', async () => {
    const as = await startAuthorizationServer();
    try {
      await expect(discoverJwksUri(`${as.issuer}/`, new URL(as.issuer))).rejects.toThrow(KeySetUnavailableError);
      await expect(discoverJwksUri(`${as.issuer}/`, new URL(as.issuer))).rejects.toThrow(`names issuer "${as.issuer}", not "${as.issuer}/"`);
      expect((await discoverJwksUri(as.issuer, new URL(as.issuer))).href).toBe(as.jwksUrl);
    } finally {
      await as.close();
    }
  });

  it('answers 500 and reports through onError when the keys cannot be fetched; held keys outlive an outage', async () => {
    const as = await startAuthorizationServer({ accessTokenTTL: 3600 });
    const errors: McpSseError[] = [];
    const cold = await startOAuthApp({ as, router: { onError: (error) => errors.push(error) } });
    const warm = await startOAuthApp({ as });
    try {
      const coldToken = await as.token({ resource: cold.resource });
      const warmToken = await as.token({ resource: warm.resource });
      expect((await probe(warm, bearer(warmToken))).status).toBe(200);
      await as.close();

      const result = await probe(cold, bearer(coldToken));
      expectEnvelope({ status: result.status, headers: result.headers, text: result.text }, 500, 'auth_error');
      expect(errors.map((e) => e.code)).toEqual(['ERR_MCP_SSE_AUTH_STRATEGY']);
      expect(errors[0]!.cause).toBeInstanceOf(KeySetUnavailableError);

      // The warm router keeps its keys, even past their age while the server is down.
      expect((await probe(warm, bearer(warmToken))).status).toBe(200);
      vi.useFakeTimers({ toFake: ['Date'] });
      vi.setSystemTime(Date.now() + keyTimings.maxAgeMs + 1000);
      expect((await probe(warm, bearer(warmToken))).status).toBe(200);
    } finally {
      vi.useRealTimers();
      await cold.close();
      await warm.close();
    }
  });
});
