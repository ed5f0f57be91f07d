// Body bombs against the deployment of the hardening issue: compressed and deeply nested bodies, huge batches,
// trickled and oversized uploads. Each gets a JSON-RPC 4xx, nothing reaches the MCP server, other sessions go on.
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import type { McpSseError } from '../../lib/index.js';
import { cleanup, connectClient, expectEnvelope, openStream, ping, whoami } from '../auth/helpers.js';
import type { Harness } from '../helpers/server.js';
import { deploy, deployRaw, keyHolder, postBytes, postChunked, rawRequest } from './deployment.js';

afterEach(cleanup);

/** A valid ping whose params pad it to `bytes` of JSON. */
const paddedPing = (id: string, bytes: number): string => {
  const head = `{"jsonrpc":"2.0","id":"${id}","method":"ping","params":{"pad":"`;
  return `${head + 'x'.repeat(bytes - head.length - 3)}"}}`;
};
const MiB = 1024 * 1024;

/** A session of the key holder with a real SDK client on it, and the messages URL of a second session. */
async function victimAndTarget(harness: Harness) {
  const client = await connectClient(harness.sseUrl, keyHolder);
  const target = await openStream(harness.sseUrl, keyHolder);
  expect(target.status).toBe(200);
  return { client, url: harness.baseUrl + target.endpoint };
}

/** Nothing reached any MCP server, no session leaked, and the victim's client still gets answers. */
async function expectUnharmed(harness: Harness, client: Awaited<ReturnType<typeof connectClient>>, messagesInBefore: number) {
  expect(harness.router.sessions.stats().messagesIn).toBe(messagesInBefore);
  expect(harness.router.sessions.size).toBe(2);
  expect((await whoami(client)).sessionUser).toMatch(/^key:/);
}

describe('maxMessageSize holds however the body arrived (hole 1)', () => {
  const body = paddedPing('zip-1', 5 * MiB);
  const encodings = [
    ['gzip', gzipSync(body)],
    ['deflate', deflateSync(body)],
    ['br', brotliCompressSync(body)],
  ] as const;

  it.each(encodings)('refuses a 5 MiB message sent %s-compressed through express.json() with 413', async (encoding, compressed) => {
    expect(compressed.length).toBeLessThan(64 * 1024);
    const harness = await deploy();
    const { client, url } = await victimAndTarget(harness);
    const before = harness.router.sessions.stats().messagesIn;
    // express.json() parsed it, so the id is known and echoed.
    const reply = await postBytes(url, compressed, { ...keyHolder, 'Content-Encoding': encoding });
    expectEnvelope(reply, 413, 'message_too_large', 'zip-1');
    await expectUnharmed(harness, client, before);
  });

  it.each(encodings)(
    'refuses the same %s body on the raw path by counting decompressed bytes, and closes the connection',
    async (encoding, compressed) => {
      const harness = await deployRaw();
      const { client, url } = await victimAndTarget(harness);
      const before = harness.router.sessions.stats().messagesIn;
      const reply = await postBytes(url, compressed, { ...keyHolder, 'Content-Encoding': encoding });
      expectEnvelope(reply, 413, 'message_too_large');
      expect(reply.headers.connection).toBe('close');
      await expectUnharmed(harness, client, before);
    },
  );

  it('still accepts a small compressed message on the raw path, and refuses encodings it cannot decode with 415', async () => {
    const harness = await deployRaw();
    const { client, url } = await victimAndTarget(harness);
    const before = harness.router.sessions.stats().messagesIn;
    const small = JSON.stringify(ping('small-gzip'));
    expect((await postBytes(url, gzipSync(small), { ...keyHolder, 'Content-Encoding': 'gzip' })).status).toBe(202);
    expect(harness.router.sessions.stats().messagesIn).toBe(before + 1);
    for (const encoding of ['compress', 'gzip, gzip', 'zstd']) {
      expectEnvelope(await postBytes(url, gzipSync(small), { ...keyHolder, 'Content-Encoding': encoding }), 415, 'unsupported_encoding');
    }
    expectEnvelope(await postBytes(url, Buffer.from('not gzip at all'), { ...keyHolder, 'Content-Encoding': 'gzip' }), 400, 'parse_error');
    await expectUnharmed(harness, client, before + 1);
  });
});

describe('deeply nested JSON (hole 2)', () => {
  const nested = (levels: number, id: string) =>
    `{"jsonrpc":"2.0","id":"${id}","method":"ping","params":{"a":${'['.repeat(levels)}${']'.repeat(levels)}}}`;

  it('answers 40,000 levels behind express.json() with a JSON-RPC 400 echoing the id, never a 500 page', async () => {
    const errors: McpSseError[] = [];
    const harness = await deploy({ maxMessageSize: '4mb', onError: (error) => errors.push(error) });
    const { client, url } = await victimAndTarget(harness);
    const before = harness.router.sessions.stats().messagesIn;
    // Streamed without Content-Length, as the attacker sent it, and with one.
    for (const reply of [await postChunked(url, nested(40_000, 'deep-1'), keyHolder), await postBytes(url, nested(40_000, 'deep-1'), keyHolder)]) {
      expectEnvelope(reply, 400, 'nesting_too_deep', 'deep-1');
      expect(reply.text).not.toMatch(/RangeError|dist\/index|<html|<pre/i);
    }
    // A top-level batch of nested arrays, and the raw path, are refused the same way.
    expectEnvelope(await postBytes(url, '['.repeat(40_000) + ']'.repeat(40_000), keyHolder), 400, 'nesting_too_deep');
    expect(errors).toEqual([]);
    await expectUnharmed(harness, client, before);
  });

  it('refuses the same bodies on the raw path, and keeps ordinary nesting', async () => {
    const harness = await deployRaw({ maxMessageSize: '4mb' });
    const { client, url } = await victimAndTarget(harness);
    const before = harness.router.sessions.stats().messagesIn;
    expectEnvelope(await postBytes(url, nested(40_000, 'deep-2'), keyHolder), 400, 'nesting_too_deep', 'deep-2');
    expectEnvelope(await postBytes(url, nested(200, 'deep-3'), keyHolder), 400, 'nesting_too_deep', 'deep-3');
    expect((await postBytes(url, nested(50, 'fine'), keyHolder)).status).toBe(202);
    await expectUnharmed(harness, client, before + 1);
  });
});

describe('maxBatchSize (hole 6)', () => {
  const batch = (n: number) => JSON.stringify(Array.from({ length: n }, (_, i) => ping(i)));

  it('refuses a 90,000-ping batch with 400 batch_too_large naming the limit, before delivering any of it', async () => {
    const harness = await deploy({ maxMessageSize: '4mb' });
    const { client, url } = await victimAndTarget(harness);
    const before = harness.router.sessions.stats().messagesIn;
    const huge = batch(90_000);
    expect(Buffer.byteLength(huge)).toBeGreaterThan(3 * MiB);
    const reply = await postBytes(url, huge, keyHolder);
    const envelope = expectEnvelope(reply, 400, 'batch_too_large');
    expect(envelope.error.message).toContain('100');
    expectEnvelope(await postBytes(url, batch(101), keyHolder), 400, 'batch_too_large');
    await expectUnharmed(harness, client, before);
    const afterWhoami = harness.router.sessions.stats().messagesIn;
    expect((await postBytes(url, batch(100), keyHolder)).status).toBe(202);
    expect(harness.router.sessions.stats().messagesIn).toBe(afterWhoami + 100);
  });

  it('applies a configured maxBatchSize on the raw path too', async () => {
    const harness = await deployRaw({ maxBatchSize: 3 });
    const { client, url } = await victimAndTarget(harness);
    const before = harness.router.sessions.stats().messagesIn;
    expect(expectEnvelope(await postBytes(url, batch(4), keyHolder), 400, 'batch_too_large').error.message).toContain('3');
    await expectUnharmed(harness, client, before);
    expect((await postBytes(url, batch(3), keyHolder)).status).toBe(202);
  });
});

describe('holding and draining sockets', () => {
  it('answers a trickled body with 408 at bodyTimeoutMs and frees the socket', async () => {
    const harness = await deployRaw({ bodyTimeoutMs: 300 });
    const { client, url } = await victimAndTarget(harness);
    const before = harness.router.sessions.stats().messagesIn;
    const path = new URL(url).pathname + new URL(url).search;
    const trickle = await rawRequest(
      harness.baseUrl,
      `POST ${path} HTTP/1.1\r\nHost: x\r\nX-API-Key: ${keyHolder['X-API-Key']}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"json`,
    );
    const reply = await trickle.response(3000);
    expectEnvelope(reply, 408, 'body_timeout');
    expect(reply.headers.connection).toBe('close');
    expect(await trickle.closedWithin(1000)).toBe(true);
    await expectUnharmed(harness, client, before);
  });

  it('closes the connection after a 413 instead of reading the rest of a large body', async () => {
    const harness = await deployRaw();
    const { client, url } = await victimAndTarget(harness);
    const before = harness.router.sessions.stats().messagesIn;
    const path = new URL(url).pathname + new URL(url).search;
    const head = (length: string) =>
      `POST ${path} HTTP/1.1\r\nHost: x\r\nX-API-Key: ${keyHolder['X-API-Key']}\r\nContent-Type: application/json\r\n${length}\r\n`;
    // Declared too large: refused before a byte of the body is read.
    const declared = await rawRequest(harness.baseUrl, head(`Content-Length: ${64 * MiB}\r\n`));
    declared.write('x'.repeat(64 * 1024));
    const first = await declared.response();
    expectEnvelope(first, 413, 'message_too_large');
    expect(first.headers.connection).toBe('close');
    expect(await declared.closedWithin(2000)).toBe(true);
    // Chunked past the limit: refused as soon as the limit is crossed.
    const chunked = await rawRequest(harness.baseUrl, head('Transfer-Encoding: chunked\r\n'));
    const chunk = 'x'.repeat(16 * 1024);
    for (let i = 0; i < 6; i++) chunked.write(`${chunk.length.toString(16)}\r\n${chunk}\r\n`);
    const second = await chunked.response();
    expectEnvelope(second, 413, 'message_too_large');
    expect(second.headers.connection).toBe('close');
    expect(await chunked.closedWithin(2000)).toBe(true);
    await expectUnharmed(harness, client, before);
  });

  it('closes the connection after any early refusal of a large unread body, and keeps it after small ones', async () => {
    const harness = await deployRaw();
    const { client, url } = await victimAndTarget(harness);
    const before = harness.router.sessions.stats().messagesIn;
    const path = new URL(url).pathname + new URL(url).search;
    const refusals: [string, number, string][] = [
      [`POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n`, 401, 'missing_credentials'],
      [`POST ${path} HTTP/1.1\r\nHost: x\r\nX-API-Key: ${keyHolder['X-API-Key']}\r\nContent-Type: text/plain\r\n`, 415, 'unsupported_media_type'],
      [`PUT ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n`, 405, 'method_not_allowed'],
    ];
    for (const [head, status, reason] of refusals) {
      const upload = await rawRequest(harness.baseUrl, `${head}Content-Length: ${64 * MiB}\r\n\r\n`);
      upload.write('x'.repeat(256 * 1024));
      const reply = await upload.response();
      expectEnvelope(reply, status, reason);
      expect(reply.headers.connection).toBe('close');
      expect(await upload.closedWithin(2000)).toBe(true);
    }
    // A refused GET, or a small POST, has little or nothing to skip: its connection stays open for the next request.
    const small = JSON.stringify(ping('small'));
    for (const head of [
      `GET /mcp/sse HTTP/1.1\r\nHost: x\r\n\r\n`,
      `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${small.length}\r\n\r\n${small}`,
    ]) {
      const exchange = await rawRequest(harness.baseUrl, head);
      const refused = await exchange.response();
      expectEnvelope(refused, 401, 'missing_credentials');
      expect(refused.headers.connection).toBe('keep-alive');
      expect(await exchange.closedWithin(100)).toBe(false);
      exchange.destroy();
    }
    await expectUnharmed(harness, client, before);
  });

  it('echoes the id of a body express.json() parsed on a POST to the SSE path', async () => {
    const harness = await deploy();
    const reply = await postBytes(harness.sseUrl, JSON.stringify(ping('wrong-door-9')), keyHolder);
    expectEnvelope(reply, 405, 'method_not_allowed', 'wrong-door-9');
    expect(reply.headers.allow).toBe('GET');
    expect(harness.router.sessions.size).toBe(0);
  });
});
