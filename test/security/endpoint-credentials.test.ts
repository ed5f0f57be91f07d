// Credentials in the opening GET's query never reach the `endpoint` URL (hole 5): the URL is repeated in every
// POST, in access logs and in proxies, so a token copied there outlives the stream it opened.
import { afterEach, describe, expect, it } from 'vitest';
import request from 'supertest';
import { cleanup, mintToken, openStream, ping } from '../auth/helpers.js';
import { apiKey, bearerToken, deploy } from './deployment.js';

afterEach(cleanup);

/** The query of an endpoint URL as [name, value] pairs, sessionId left out. */
const queryOf = (endpoint: string) => [...new URL(endpoint, 'http://x').searchParams].filter(([name]) => name !== 'sessionId');

describe('credentials never reach the endpoint URL (hole 5)', () => {
  it('drops access_token of passport-http-bearer and keeps the other parameters', async () => {
    const harness = await deploy();
    const opened = await openStream(`${harness.sseUrl}?tenant=acme&access_token=${bearerToken}&lang=en`);
    expect(opened.status).toBe(200);
    expect(harness.router.sessions.get(opened.sessionId)?.user?.id).toBe('bearer-user');
    expect(opened.endpoint).not.toContain(bearerToken);
    expect(queryOf(opened.endpoint)).toEqual([
      ['tenant', 'acme'],
      ['lang', 'en'],
    ]);
    // Without a token, passport-http-bearer's bare challenge counts as missing credentials, not invalid ones.
    const anonymous = await request(harness.baseUrl).post(opened.endpoint).send(ping(0));
    expect(anonymous.status).toBe(401);
    expect(anonymous.body.error.data.reason).toBe('missing_credentials');
    expect(anonymous.headers['www-authenticate']).not.toContain('error=');
    // The client can still post: with its credential in a header, as the endpoint URL no longer carries it.
    expect((await request(harness.baseUrl).post(opened.endpoint).set('Authorization', `Bearer ${bearerToken}`).send(ping(1))).status).toBe(202);
  });

  it('drops the query parameters jwtStrategy and apiKeyStrategy declare, and every spelling of them', async () => {
    const harness = await deploy();
    const token = mintToken({ sub: 'query-user' });
    const viaJwt = await openStream(`${harness.sseUrl}?token=${token}&keep=1&TOKEN=x&Access_Token=y&access_token%5B%5D=z&access_token[0]=w`);
    expect(viaJwt.status).toBe(200);
    expect(queryOf(viaJwt.endpoint)).toEqual([['keep', '1']]);
    const viaKey = await openStream(`${harness.sseUrl}?api_key=${apiKey}&keep=2&sessionId=forged&SESSIONID=forged`);
    expect(viaKey.status).toBe(200);
    expect(viaKey.endpoint).not.toContain(apiKey);
    expect(viaKey.endpoint).not.toContain('forged');
    expect(queryOf(viaKey.endpoint)).toEqual([['keep', '2']]);
  });
});
