// A real OAuth 2.1 authorization server for the tests: panva's oidc-provider in-process on port 0, issuing RFC 9068
// JWT access tokens for client credentials with resource indicators (aud = the requested resource). Counts its
// key-set and metadata requests, and rotates or retires its signing keys on demand.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import Provider, { type Configuration } from 'oidc-provider';

export interface TestClient {
  clientId: string;
  clientSecret: string;
}

/** Changes a token's header or payload as the authorization server signs it (oidc-provider's JWT customizer). */
export type Customizer = (clientId: string, jwt: { header: Record<string, unknown> | undefined; payload: Record<string, unknown> }) => void;

export interface AuthorizationServer {
  issuer: string;
  jwksUrl: string;
  /** Requests for the key set (`/jwks`) so far. */
  readonly jwksFetches: number;
  /** Requests for the metadata documents so far. */
  readonly metadataFetches: number;
  /** Token requests so far. */
  readonly tokenRequests: number;
  /** May request tokens with any of `scopes`. */
  client: TestClient;
  /** May only request `mcp:read`. */
  narrowClient: TestClient;
  /** Set to alter the tokens it issues (a misconfigured or hostile server); `undefined` for none. */
  customize: Customizer | undefined;
  /** Access-token lifetime in seconds for tokens issued from now on. */
  accessTokenTTL: number;
  /** Signs with a new key from now on; the old one stays published until `retireOldKeys()`. Returns the new kid. */
  rotateKey(): Promise<string>;
  /** Publishes only the current signing key. */
  retireOldKeys(): Promise<void>;
  /** The kid tokens are signed with now. */
  readonly currentKid: string;
  /** The current signing key's public JWK. */
  readonly publicJwk: JWK;
  /** A client-credentials token request, as a client would make it. */
  token(options?: { client?: TestClient; resource?: string; scope?: string }): Promise<string>;
  /** An OpenID Connect ID token for `client` (aud = the client id), signed with the current key. */
  idToken(sub?: string): Promise<string>;
  close(): Promise<void>;
}

export const scopesOffered = 'mcp:tools mcp:admin mcp:read';

export interface AuthorizationServerOptions {
  /** Access-token lifetime in seconds. Defaults to 300. */
  accessTokenTTL?: number;
}

/** Starts oidc-provider on 127.0.0.1:0. */
export async function startAuthorizationServer(options: AuthorizationServerOptions = {}): Promise<AuthorizationServer> {
  let provider: Provider | undefined;
  let jwksFetches = 0;
  let metadataFetches = 0;
  let tokenRequests = 0;
  const server: Server = createServer((req, res) => {
    if (req.url?.startsWith('/jwks')) jwksFetches++;
    if (req.url?.startsWith('/.well-known/')) metadataFetches++;
    if (req.url?.startsWith('/token')) tokenRequests++;
    provider!.callback()(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const client: TestClient = { clientId: 'mcp-client', clientSecret: 'mcp-client-secret-0123456789abcdef' };
  const narrowClient: TestClient = { clientId: 'narrow-client', clientSecret: 'narrow-client-secret-0123456789abc' };
  const keys: JWK[] = [await newSigningKey()];

  const as: AuthorizationServer = {
    issuer,
    jwksUrl: `${issuer}/jwks`,
    get jwksFetches() {
      return jwksFetches;
    },
    get metadataFetches() {
      return metadataFetches;
    },
    get tokenRequests() {
      return tokenRequests;
    },
    client,
    narrowClient,
    customize: undefined,
    accessTokenTTL: options.accessTokenTTL ?? 300,
    async rotateKey() {
      keys.unshift(await newSigningKey());
      provider = build();
      return keys[0]!.kid!;
    },
    async retireOldKeys() {
      keys.splice(1);
      provider = build();
    },
    get currentKid() {
      return keys[0]!.kid!;
    },
    get publicJwk() {
      const { d, p, q, dp, dq, qi, ...publicPart } = keys[0]!;
      void [d, p, q, dp, dq, qi];
      return publicPart;
    },
    async token({ client: who = client, resource, scope } = {}) {
      const body = new URLSearchParams({ grant_type: 'client_credentials' });
      if (resource !== undefined) body.set('resource', resource);
      if (scope !== undefined) body.set('scope', scope);
      const response = await fetch(`${issuer}/token`, {
        method: 'POST',
        headers: { Authorization: `Basic ${Buffer.from(`${who.clientId}:${who.clientSecret}`).toString('base64')}` },
        body,
      });
      const json = (await response.json()) as { access_token?: string; error?: string; error_description?: string };
      if (json.access_token === undefined) throw new Error(`token request failed: ${json.error}: ${json.error_description}`);
      return json.access_token;
    },
    async idToken(sub = 'alice') {
      const current = provider!;
      const found = await current.Client.find(client.clientId);
      const token = new current.IdToken({ sub }, { client: found! } as never);
      (token as unknown as { scope: string }).scope = 'openid';
      return token.issue({ use: 'idtoken' });
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };

  const build = (): Provider => {
    const configuration: Configuration = {
      clients: [
        {
          client_id: client.clientId,
          client_secret: client.clientSecret,
          grant_types: ['client_credentials'],
          redirect_uris: [],
          response_types: [],
          scope: scopesOffered,
          id_token_signed_response_alg: 'RS256',
        },
        {
          client_id: narrowClient.clientId,
          client_secret: narrowClient.clientSecret,
          grant_types: ['client_credentials'],
          redirect_uris: [],
          response_types: [],
          scope: 'mcp:read',
        },
      ],
      scopes: ['openid', ...scopesOffered.split(' ')],
      ttl: { ClientCredentials: () => as.accessTokenTTL, IdToken: 3600 },
      jwks: { keys: keys.map((key) => ({ ...key })) as never },
      features: {
        devInteractions: { enabled: false },
        clientCredentials: { enabled: true },
        resourceIndicators: {
          enabled: true,
          getResourceServerInfo: () => ({
            scope: scopesOffered,
            accessTokenTTL: as.accessTokenTTL,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'RS256' } },
          }),
        },
      },
      formats: {
        customizers: {
          jwt: (_ctx, token, jwt) => {
            as.customize?.((token as { clientId: string }).clientId, jwt as never);
          },
        },
      },
    };
    return new Provider(issuer, configuration);
  };
  provider = build();
  return as;
}

async function newSigningKey(): Promise<JWK> {
  const { privateKey } = await generateKeyPair('RS256', { extractable: true, modulusLength: 2048 });
  return { ...(await exportJWK(privateKey)), kid: randomUUID(), alg: 'RS256', use: 'sig' };
}
