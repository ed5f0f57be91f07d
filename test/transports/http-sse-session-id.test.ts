// POST /messages finds its session from the URL's own `sessionId` parameter, exactly as `querystring` reads it,
// whatever query parser the app configured.
import { parse } from 'node:querystring';
import { afterEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { Request } from 'express';
import { sessionIdOf } from '../../lib/transports/http-sse/post-messages.js';
import { startHarness, type Harness } from '../helpers/server.js';
import { handshake, openSse, postJson, sessionIdOf as endpointSessionId } from '../helpers/sse.js';

let harness: Harness | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

const fromUrl = (url: string) => sessionIdOf({ url } as Request);
const byQuerystring = (query: string) => {
  const value = parse(query).sessionId;
  return typeof value === 'string' && value !== '' ? value : undefined;
};

describe('sessionIdOf', () => {
  it('reads what querystring.parse reads, for any query', () => {
    const part = fc.constantFrom('sessionId', 'sessionId=', 'session%49d=', 'session+Id=', '=', '&', '%', '%20', '+', 'a', 'b=1', 'x', '%zz', '?');
    fc.assert(
      fc.property(fc.array(part, { maxLength: 12 }), (parts) => {
        const query = parts.join('');
        expect(fromUrl(`/messages?${query}`)).toBe(byQuerystring(query));
      }),
      { numRuns: 2000 },
    );
  });

  it('the usual cases', () => {
    expect(fromUrl('/messages?sessionId=8f3c')).toBe('8f3c');
    expect(fromUrl('/messages?sessionId=')).toBeUndefined();
    expect(fromUrl('/messages')).toBeUndefined();
    expect(fromUrl('/messages?sessionId=a&sessionId=b')).toBeUndefined();
    expect(fromUrl('/messages?region=eu&sessionId=a%2Db')).toBe('a-b');
  });

  it('finds the session with the app query parser turned off', async () => {
    harness = await startHarness({ before: (app) => app.set('query parser', false) });
    const stream = await openSse(harness.sseUrl);
    try {
      const postUrl = new URL(stream.endpoint!, harness.baseUrl).href;
      await handshake(stream, postUrl);
      expect(harness.router.sessions.get(endpointSessionId(stream.endpoint!))).toBeDefined();
      const reply = await postJson(postUrl, { jsonrpc: '2.0', id: 2, method: 'ping' });
      expect(reply.status).toBe(202);
    } finally {
      stream.destroy();
    }
  });
});
