// Misconfigurations refused at creation (DESIGN.md "Operability"): every one a TypeError naming the option and the fix.
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { apiKeyStrategy, createMcpSseRouter, jwtStrategy } from '../../lib/index.js';

const createServer = () => ({ connect: async () => {} });
const goodKey = 'sk-0123456789abcdef';
const secret32 = 'x'.repeat(32);
const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const unsetEnv: string | undefined = undefined;

const cases: [string, () => unknown, string][] = [
  ['apiKeyStrategy with no keys', () => apiKeyStrategy({ keys: [] }), 'apiKeyStrategy option "keys" must not be empty.'],
  ['apiKeyStrategy with an empty record', () => apiKeyStrategy({ keys: {} }), 'apiKeyStrategy option "keys" must not be empty.'],
  ['apiKeyStrategy with an empty key', () => apiKeyStrategy({ keys: [''] }), 'apiKeyStrategy option "keys" must hold non-empty strings (keys[0]).'],
  [
    'apiKeyStrategy with the record key "undefined" of an unset variable',
    () => apiKeyStrategy({ keys: { [String(unsetEnv)]: 'ops-team' } }),
    'apiKeyStrategy option "keys" holds the key "undefined": an environment variable that is not set (keys: { [process.env.API_KEY]: … })? Set it, or leave the strategy out when it is missing.',
  ],
  [
    'apiKeyStrategy with the key "null"',
    () => apiKeyStrategy({ keys: [goodKey, 'null'] }),
    'apiKeyStrategy option "keys" holds the key "null" (keys[1]): an environment variable that is not set (keys: { [process.env.API_KEY]: … })? Set it, or leave the strategy out when it is missing.',
  ],
  [
    'apiKeyStrategy with the key "undefined" in an array',
    () => apiKeyStrategy({ keys: ['undefined'] }),
    'apiKeyStrategy option "keys" holds the key "undefined" (keys[0]): an environment variable that is not set (keys: { [process.env.API_KEY]: … })? Set it, or leave the strategy out when it is missing.',
  ],
  [
    'apiKeyStrategy with a short key',
    () => apiKeyStrategy({ keys: ['abc123'] }),
    'apiKeyStrategy option "keys" holds a key of 6 characters (keys[0]): keys need at least 16 (generate one with `openssl rand -hex 32`).',
  ],
  [
    'apiKeyStrategy with a short record key',
    () => apiKeyStrategy({ keys: { 'key-alice': 'alice' } }),
    'apiKeyStrategy option "keys" holds a key of 9 characters: keys need at least 16 (generate one with `openssl rand -hex 32`).',
  ],
  [
    'apiKeyStrategy with a string for keys',
    () => apiKeyStrategy({ keys: 'abc' as never }),
    'apiKeyStrategy option "keys" must be an array of keys or a record { key: principalName }, got "abc". For one key write keys: [key].',
  ],
  [
    'apiKeyStrategy with a long string for keys',
    () => apiKeyStrategy({ keys: goodKey as never }),
    `apiKeyStrategy option "keys" must be an array of keys or a record { key: principalName }, got "${goodKey}". For one key write keys: [key].`,
  ],
  [
    'apiKeyStrategy with a Map for keys',
    () => apiKeyStrategy({ keys: new Map([[goodKey, 'a']]) as never }),
    'apiKeyStrategy option "keys" must be an array of keys or a record { key: principalName }, got an object. For one key write keys: [key].',
  ],
  [
    'jwtStrategy with a secret and RS256',
    () => jwtStrategy({ secret: secret32, algorithms: ['RS256'] }),
    `jwtStrategy option "algorithms" lists RS256 with a "secret": a shared secret only verifies HMAC tokens (HS256, HS384, HS512). Give "publicKey" for RS256, or algorithms: ['HS256'].`,
  ],
  [
    'jwtStrategy with a secret and HS256 plus ES256',
    () => jwtStrategy({ secret: secret32, algorithms: ['HS256', 'ES256'] }),
    `jwtStrategy option "algorithms" lists ES256 with a "secret": a shared secret only verifies HMAC tokens (HS256, HS384, HS512). Give "publicKey" for ES256, or algorithms: ['HS256'].`,
  ],
  [
    'jwtStrategy with a public key and HS256',
    () => jwtStrategy({ publicKey, algorithms: ['HS256'] }),
    'jwtStrategy option "algorithms" must not mix HMAC (HS*) with "publicKey": that invites algorithm confusion.',
  ],
  [
    'jwtStrategy with a short secret',
    () => jwtStrategy({ secret: 'short' }),
    'jwtStrategy option "secret" is 5 bytes: HS256 needs at least 32 (RFC 7518 §3.2), or the secret can be guessed from one token. Generate one with `openssl rand -base64 32`.',
  ],
  [
    'jwtStrategy with a 31-byte secret',
    () => jwtStrategy({ secret: Buffer.alloc(31, 1) }),
    'jwtStrategy option "secret" is 31 bytes: HS256 needs at least 32 (RFC 7518 §3.2), or the secret can be guessed from one token. Generate one with `openssl rand -base64 32`.',
  ],
  [
    'jwtStrategy with HS384 and a 32-byte secret',
    () => jwtStrategy({ secret: secret32, algorithms: ['HS384'] }),
    'jwtStrategy option "secret" is 32 bytes: HS384 needs at least 48 (RFC 7518 §3.2), or the secret can be guessed from one token. Generate one with `openssl rand -base64 48`.',
  ],
  [
    'jwtStrategy with HS512 and a 48-byte secret',
    () => jwtStrategy({ secret: 'y'.repeat(48), algorithms: ['HS256', 'HS512'] }),
    'jwtStrategy option "secret" is 48 bytes: HS512 needs at least 64 (RFC 7518 §3.2), or the secret can be guessed from one token. Generate one with `openssl rand -base64 64`.',
  ],
  [
    'auth given a strategy',
    () => createMcpSseRouter({ createServer, auth: apiKeyStrategy({ keys: [goodKey] }) as never }),
    'Option "auth" must be { strategies: [...] }, got a Passport strategy. Write auth: { strategies: [yourStrategy] }.',
  ],
  [
    'auth given an array of strategies',
    () => createMcpSseRouter({ createServer, auth: [apiKeyStrategy({ keys: [goodKey] })] as never }),
    'Option "auth" must be { strategies: [...] }, got an array. Write auth: { strategies: [yourStrategy] }.',
  ],
];

describe('misconfigurations are refused at creation', () => {
  it.each(cases)('%s', (_what, create, message) => {
    let thrown: unknown;
    try {
      create();
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(TypeError);
    expect(thrown).toMatchObject({ code: 'ERR_MCP_SSE_INVALID_OPTION', message });
  });

  it('never prints a short key itself', () => {
    expect(() => apiKeyStrategy({ keys: { 'secret-ish': 'x' } })).toThrow(
      expect.objectContaining({ message: expect.not.stringContaining('secret-ish') }),
    );
  });

  it('accepts what is right at the limits', () => {
    expect(() => apiKeyStrategy({ keys: ['a'.repeat(16)] })).not.toThrow();
    expect(() => apiKeyStrategy({ keys: Object.assign(Object.create(null), { ['b'.repeat(16)]: 'ops' }) })).not.toThrow();
    expect(() => jwtStrategy({ secret: secret32 })).not.toThrow();
    expect(() => jwtStrategy({ secret: 'z'.repeat(64), algorithms: ['HS256', 'HS384', 'HS512'] })).not.toThrow();
    expect(() => jwtStrategy({ publicKey, algorithms: ['ES256'] })).not.toThrow();
  });
});
