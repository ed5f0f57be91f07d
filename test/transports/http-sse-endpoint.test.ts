// The `endpoint` event's URL: a prefix shared by the sessions of a mount, and the session's own `sessionId` last.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { Request } from 'express';
import { endpointOf, endpointPrefix, prefixOf, privateQueryParameters } from '../../lib/transports/http-sse/endpoint.js';
import { sessionIdOf } from '../../lib/transports/http-sse/post-messages.js';

const options = (publicBaseUrl?: string) => ({ messagesPath: '/messages', publicBaseUrl, privateParams: privateQueryParameters([]) });
const opening = (baseUrl: string, query = '') => ({ baseUrl, originalUrl: `${baseUrl}/sse${query}` }) as Request;

const name = fc.constantFrom('tenant', 'region', 'sessionId', 'SessionId', 'access_token', 'sessionId[]', 'a b', 'x&y', 'ü');
const value = fc.string({ maxLength: 6 });
const sessionId = fc.oneof(fc.uuid(), fc.string({ minLength: 1, maxLength: 12 }));

describe('endpoint URLs', () => {
  it('keep the opening GET`s public parameters in order, and the session id last, where a POST reads it back', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(name, value), { maxLength: 5 }), sessionId, (params, id) => {
        const query = params.length === 0 ? '' : `?${new URLSearchParams(params).toString()}`;
        const prefix = endpointPrefix(opening('/tenants/acme/mcp', query), options());
        const url = endpointOf(prefix, id);
        expect(url.startsWith('/tenants/acme/mcp/messages?')).toBe(true);
        const read = [...new URLSearchParams(url.slice(url.indexOf('?') + 1))];
        const kept = params.filter(([key]) => !['sessionid', 'access_token'].includes(key.replace(/\[.*$/, '').toLowerCase()));
        expect(read).toEqual([...kept, ['sessionId', id]]);
        expect(sessionIdOf({ url } as Request)).toBe(id);
        // A durable bus stores the whole URL; the instance that adopts the session takes the prefix back from it.
        expect(prefixOf(url, id)).toBe(prefix);
      }),
      { numRuns: 500 },
    );
  });

  it('keep publicBaseUrl`s own query, without a sessionId of its own', () => {
    const prefix = endpointPrefix(opening('/mcp', '?tenant=t1'), options('https://api.example.com/public/mcp?region=eu&sessionId=stale'));
    expect(endpointOf(prefix, 'a b')).toBe('https://api.example.com/public/mcp/messages?region=eu&tenant=t1&sessionId=a+b');
  });

  it('are one shared prefix for the sessions of one mount', () => {
    expect(endpointPrefix(opening('/mcp'), options())).toBe('/mcp/messages?');
    expect(endpointOf('/mcp/messages?', '8f3c')).toBe('/mcp/messages?sessionId=8f3c');
  });

  it('refuse a stored URL that is not one of the session`s', () => {
    expect(prefixOf('/mcp/messages?sessionId=other', 'mine')).toBeUndefined();
    expect(prefixOf(undefined, 'mine')).toBeUndefined();
  });
});
