// oauthStrategy() options: defaults, the derived metadata location, and a TypeError naming each bad option.
import { describe, expect, it } from 'vitest';
import { resolveOAuthOptions, type OAuthStrategyOptions } from '../../lib/auth/oauth-options.js';
import { audienceMatches } from '../../lib/auth/access-token.js';
import { apiKeyStrategy, createMcpSseRouter, oauthStrategy } from '../../lib/index.js';

const base = { issuer: 'https://auth.example.com', resource: 'https://api.example.com/mcp' };
const resolve = (extra: Record<string, unknown>) => resolveOAuthOptions({ ...base, ...extra } as OAuthStrategyOptions);
const createServer = () => ({ connect: async () => {} });

describe('oauthStrategy options', () => {
  it('applies the defaults: asymmetric algorithms, 30 s clock tolerance, no required scopes, discovery', () => {
    const o = resolveOAuthOptions(base);
    expect(o).toMatchObject({
      issuer: 'https://auth.example.com',
      resource: 'https://api.example.com/mcp',
      scopes: [],
      jwksUri: undefined,
      clockToleranceSec: 30,
      resourceName: undefined,
      metadataPath: '/.well-known/oauth-protected-resource/mcp',
      metadataUrl: 'https://api.example.com/.well-known/oauth-protected-resource/mcp',
    });
    expect(o.algorithms).toEqual(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519']);
    expect(resolve({ scopes: undefined, clockToleranceSec: undefined }).clockToleranceSec).toBe(30);
  });

  it('puts the metadata at the path-aware URL of the resource, and at the root for a bare origin', () => {
    expect(resolve({ resource: 'https://api.example.com/a/b/mcp' }).metadataUrl).toBe(
      'https://api.example.com/.well-known/oauth-protected-resource/a/b/mcp',
    );
    expect(resolve({ resource: 'https://api.example.com' }).metadataPath).toBe('/.well-known/oauth-protected-resource');
    expect(resolve({ resource: 'https://api.example.com/' }).metadataPath).toBe('/.well-known/oauth-protected-resource');
    expect(resolve({ resource: 'https://api.example.com:8443/mcp' }).metadataUrl).toBe(
      'https://api.example.com:8443/.well-known/oauth-protected-resource/mcp',
    );
  });

  it('keeps the resource as written: clients send the metadata string verbatim to the authorization server', () => {
    expect(resolve({ resource: 'https://api.example.com' }).resource).toBe('https://api.example.com');
    expect(resolve({ resource: 'https://api.example.com/' }).resource).toBe('https://api.example.com/');
  });

  it('accepts http only on loopback hosts for what it fetches (issuer, jwksUri), any http(s) resource', () => {
    expect(() => resolve({ issuer: 'http://localhost:9000' })).not.toThrow();
    expect(() => resolve({ issuer: 'http://127.0.0.1:9000/realms/x', jwksUri: 'http://[::1]:9000/jwks' })).not.toThrow();
    expect(() => resolve({ resource: 'http://mcp.internal:3000/mcp' })).not.toThrow();
    expect(() => resolve({ issuer: 'http://auth.example.com' })).toThrow(/"issuer" must be an https: URL .*"http:\/\/auth.example.com"/);
    expect(() => resolve({ jwksUri: 'http://auth.example.com/jwks' })).toThrow(/"jwksUri" must be an https: URL/);
  });

  const refusals: [string, Record<string, unknown>, RegExp][] = [
    ['a missing issuer', { issuer: undefined }, /"issuer" is required: an absolute URL, got undefined/],
    ['a relative issuer', { issuer: '/auth' }, /"issuer" must be an absolute URL, got "\/auth"/],
    ['an issuer with a query', { issuer: 'https://auth.example.com?tenant=a' }, /"issuer" must have no query or fragment/],
    ['an issuer with a fragment', { issuer: 'https://auth.example.com#x' }, /"issuer" must have no query or fragment/],
    ['a non-http issuer', { issuer: 'ftp://auth.example.com' }, /"issuer" must be an http\(s\) URL/],
    ['a missing resource', { resource: undefined }, /"resource" is required/],
    ['a relative resource', { resource: '/mcp' }, /"resource" must be an absolute URL, got "\/mcp"/],
    ['a resource with a fragment', { resource: 'https://api.example.com/mcp#x' }, /"resource" must not have a fragment \(RFC 8707\)/],
    ['a resource with an empty fragment', { resource: 'https://api.example.com/mcp#' }, /"resource" must not have a fragment/],
    ['a resource with a query', { resource: 'https://api.example.com/mcp?x=1' }, /"resource" must not have a query/],
    [
      'a resource path ending in /',
      { resource: 'https://api.example.com/mcp/' },
      /"resource" must not end with "\/" after a path.*Use "https:\/\/api.example.com\/mcp"/,
    ],
    ['a resource with credentials', { resource: 'https://user:pw@api.example.com/mcp' }, /"resource" must not carry credentials/],
    ['scopes that are not an array', { scopes: 'mcp:tools' }, /"scopes" must be an array of scope names/],
    ['a scope with a space', { scopes: ['mcp tools'] }, /"scopes" must be an array of scope names \(no spaces or quotes\)/],
    ['a scope with a quote', { scopes: ['mcp"'] }, /"scopes" must be an array/],
    ['an empty scope', { scopes: [''] }, /"scopes" must be an array/],
    ['algorithm none', { algorithms: ['none'] }, /"algorithms" must hold asymmetric algorithms .* got "none"/],
    [
      'an HMAC algorithm',
      { algorithms: ['RS256', 'HS256'] },
      /"algorithms" must hold asymmetric algorithms .* got "HS256": "none" and HMAC are never accepted/,
    ],
    ['an empty algorithm list', { algorithms: [] }, /"algorithms" must be a non-empty array/],
    ['a negative clock tolerance', { clockToleranceSec: -1 }, /"clockToleranceSec" must be seconds from 0 to 300, got -1/],
    ['a clock tolerance over 300 s', { clockToleranceSec: 301 }, /"clockToleranceSec" must be seconds from 0 to 300, got 301/],
    ['a clock tolerance that is not a number', { clockToleranceSec: '30' }, /"clockToleranceSec" must be seconds/],
    ['an empty resource name', { resourceName: ' ' }, /"resourceName" must be a non-empty string/],
    ['an unknown option', { audience: 'x' }, /Unknown oauthStrategy option "audience"\. Known: issuer, resource, scopes/],
  ];
  it.each(refusals)('refuses %s with a TypeError naming the option', (_what, extra, message) => {
    expect(() => resolve(extra)).toThrow(TypeError);
    expect(() => resolve(extra)).toThrow(message);
  });

  it('refuses a missing options object', () => {
    expect(() => oauthStrategy(undefined as never)).toThrow(/oauthStrategy\(\) needs an options object with issuer and resource, got undefined/);
  });
});

describe('audience comparison', () => {
  const resource = new URL('https://api.example.com/mcp');
  it('matches the resource in a string or an array', () => {
    expect(audienceMatches('https://api.example.com/mcp', resource)).toBe(true);
    expect(audienceMatches(['https://other.example.com', 'https://api.example.com/mcp'], resource)).toBe(true);
  });
  it('normalises what RFC 3986 calls equal (host case, default port) and one trailing slash, as the SDK does, nothing else', () => {
    expect(audienceMatches('https://API.example.com:443/mcp', resource)).toBe(true);
    expect(audienceMatches('https://api.example.com/mcp/', resource)).toBe(true);
    expect(audienceMatches('https://api.example.com/mcp//', resource)).toBe(false);
    expect(audienceMatches('https://api.example.com/mcp/tools', resource)).toBe(false);
    expect(audienceMatches('https://api.example.com/mc', resource)).toBe(false);
    expect(audienceMatches('https://api.example.com', resource)).toBe(false);
    expect(audienceMatches('https://api.example.com/MCP', resource)).toBe(false);
    expect(audienceMatches('http://api.example.com/mcp', resource)).toBe(false);
    expect(audienceMatches('https://api.example.com/mcp#', resource)).toBe(false);
  });
  it('treats a bare origin with and without its slash as one resource', () => {
    expect(audienceMatches('https://api.example.com', new URL('https://api.example.com/'))).toBe(true);
    expect(audienceMatches('https://api.example.com/', new URL('https://api.example.com'))).toBe(true);
  });
  it('refuses anything that is not a matching string', () => {
    for (const aud of [undefined, null, 42, {}, [], [42], 'not a url', 'mcp']) expect(audienceMatches(aud, resource)).toBe(false);
  });
});

describe('router.wellKnown at creation', () => {
  it('refuses two different resources at one metadata path', () => {
    const strategies = [
      oauthStrategy({ issuer: 'https://a.example.com', resource: 'https://one.example.com/mcp' }),
      oauthStrategy({ issuer: 'https://b.example.com', resource: 'https://two.example.com/mcp' }),
    ];
    expect(() => createMcpSseRouter({ createServer, auth: { strategies } })).toThrow(
      /share the metadata path \/\.well-known\/oauth-protected-resource\/mcp/,
    );
  });

  it('is a middleware on every router, with or without OAuth', () => {
    expect(typeof createMcpSseRouter({ createServer }).wellKnown).toBe('function');
    expect(typeof createMcpSseRouter({ createServer, auth: { strategies: [apiKeyStrategy({ keys: ['k-0123456789abcdef'] })] } }).wellKnown).toBe(
      'function',
    );
  });
});
