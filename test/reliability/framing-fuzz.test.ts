// Arbitrary strings through sendEvent()/sendNotification() survive a real stream and eventsource-parser exactly.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { SSETransport } from '../../lib/index.js';
import { sseSession, startHarness, type Harness } from '../helpers/server.js';
import { openSse, sessionIdOf, type RawStream } from '../helpers/sse.js';

let harness: Harness;
let stream: RawStream;
let transport: SSETransport;

beforeAll(async () => {
  harness = await startHarness({ keepAliveMs: 0 });
  stream = await openSse(harness.sseUrl);
  transport = sseSession(harness.router, sessionIdOf(stream.endpoint!));
  expect(transport).toBeDefined();
});

afterAll(async () => {
  stream?.destroy();
  await harness?.close();
});

/** Single code points of any plane (no lone surrogates), mixed with the characters SSE framing cares about. */
const unit = fc.oneof(
  { weight: 3, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }) },
  {
    weight: 2,
    arbitrary: fc.constantFrom('\r', '\n', '\r\n', '\n\r', ' ', ':', 'data: x', 'id: 1', 'event: y', '\u2028', '\u0085', '\0', '\uFEFF', '😀'),
  },
);
const text = fc.string({ unit, maxLength: 40 });
const singleLine = fc.string({ unit, maxLength: 20 }).filter((s) => !/[\r\n]/.test(s));
/** A string with at least one CR or LF somewhere. */
const multiLine = fc
  .tuple(fc.string({ maxLength: 5 }), fc.constantFrom('\r', '\n', '\r\n'), fc.string({ maxLength: 5 }))
  .map((parts) => parts.join(''));

/** What the SSE spec hands a client for data written as one `data:` line per line: line breaks become LF. */
const spec = (data: string) => data.replace(/\r\n|\r/g, '\n');

/** The sequence number of one of this session's event ids. */
const seqOf = (id: string | undefined) => {
  expect(id).toMatch(new RegExp(`^${transport.streamKey.replace(/[-]/g, '\\-')}\\.\\d+$`));
  return Number(id!.slice(id!.lastIndexOf('.') + 1));
};

describe('framing round trip through a real stream', () => {
  it('sendEvent() string data arrives exactly, after line-break normalisation', async () => {
    let lastSeq = seqOf(stream.events.at(-1)!.id);
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(singleLine, text), { minLength: 1, maxLength: 4 }), async (batch) => {
        for (const [event, data] of batch) await transport.sendEvent({ event, data });
        for (const [event, data] of batch) {
          const got = await stream.next();
          // An empty name writes no `event:` line; parsers then report no type (browsers say "message").
          expect(got.event).toBe(event === '' ? undefined : event);
          expect(got.data).toBe(spec(data));
          expect(seqOf(got.id)).toBe(++lastSeq);
        }
      }),
      { numRuns: 250 },
    );
  });

  it('sendEvent() with a custom id round-trips the id (ids with NUL are ignored, as the spec says)', async () => {
    await fc.assert(
      fc.asyncProperty(singleLine, singleLine, text, async (event, id, data) => {
        await transport.sendEvent({ event, data, id });
        const got = await stream.next();
        expect(got.event).toBe(event === '' ? undefined : event);
        expect(got.id).toBe(id.includes('\0') ? undefined : id);
        expect(got.data).toBe(spec(data));
        // Then the session's own id comes back as the client's last id, so a resume still finds the session.
        const point = await stream.next();
        expect(point.event).toBe('resume-point');
        expect(point.id).toMatch(/^[\w-]+\.\d+$/);
      }),
      { numRuns: 150 },
    );
  });

  it('sendEvent() non-string data arrives as its JSON, on one line', async () => {
    await fc.assert(
      fc.asyncProperty(
        singleLine,
        fc.jsonValue({ maxDepth: 4 }).filter((v) => typeof v !== 'string'),
        async (event, value) => {
          await transport.sendEvent({ event, data: value as object });
          const got = await stream.next();
          expect(got.data).toBe(JSON.stringify(value));
        },
      ),
      { numRuns: 150 },
    );
  });

  it('sendNotification() arrives as one `message` event whose data is the JSON-RPC notification', async () => {
    const before = harness.router.sessions.stats().messagesOut;
    let runs = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.string({ unit, maxLength: 30 }),
        fc.option(fc.dictionary(fc.string({ unit, maxLength: 8 }), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 4 }), { nil: undefined }),
        async (method, params) => {
          runs++;
          await transport.sendNotification(method, params);
          const got = await stream.next();
          expect(got.event).toBe('message');
          const expected = params === undefined ? { jsonrpc: '2.0', method } : { jsonrpc: '2.0', method, params };
          expect(got.data).toBe(JSON.stringify(expected));
          expect(got.data).not.toMatch(/[\r\n]/);
        },
      ),
      { numRuns: 250 },
    );
    expect(harness.router.sessions.stats().messagesOut - before).toBe(runs);
  });

  it('an event or id with CR or LF throws a TypeError and writes nothing', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.record({ event: multiLine, id: fc.constant(undefined) }),
          fc.record({ event: singleLine, id: multiLine }),
          fc.record({ event: multiLine, id: multiLine }),
        ),
        text,
        async ({ event, id }, data) => {
          const { bytesOut } = harness.router.sessions.stats();
          const lastSeq = seqOf(stream.events.filter((e) => e.id?.startsWith(transport.streamKey)).at(-1)!.id);
          const bad = id === undefined ? { event, data } : { event, data, id };
          await expect(transport.sendEvent(bad)).rejects.toThrow(TypeError);
          expect(harness.router.sessions.stats().bytesOut).toBe(bytesOut);
          // The next event is the sentinel, with the next sequence number: nothing was written or consumed.
          await transport.sendEvent({ event: 'sentinel', data: 'ok' });
          const got = await stream.next();
          expect(got).toMatchObject({ event: 'sentinel', data: 'ok' });
          expect(seqOf(got.id)).toBe(lastSeq + 1);
        },
      ),
      { numRuns: 100 },
    );
  });

  it('the client received exactly the bytes the server counted', async () => {
    await transport.sendEvent({ event: 'last', data: 'bye' });
    await stream.next((e) => e.event === 'last');
    expect(stream.bytes).toBe(harness.router.sessions.stats().bytesOut);
    expect(stream.text.startsWith('retry: ')).toBe(true);
  });
});
