// The README's ways of living with an app-level express.json(): a 200 KB body never gets an HTML error page.
import { gzipSync } from 'node:zlib';
import express from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import { mcpBodyErrorHandler } from '../../lib/index.js';
import { type Harness, startHarness } from '../helpers/server.js';

const streamableHeaders = { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' };

/** An `initialize` request of about `bytes` bytes (the padding rides in clientInfo, which servers ignore). */
function bigInitialize(bytes: number): string {
  return JSON.stringify({
    jsonrpc: '2.0',
    id: 1,
    method: 'initialize',
    params: {
      protocolVersion: '2025-11-25',
      capabilities: {},
      clientInfo: { name: 'big', version: '1', description: 'x'.repeat(bytes) },
    },
  });
}

let harness: Harness | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

/** The app as the README sets it up: parser first, the router, then the error handler at the same path. */
async function withParser(parser: express.RequestHandler): Promise<Harness> {
  const started = await startHarness({ before: (app) => app.use(parser) });
  started.app.use('/mcp', mcpBodyErrorHandler());
  return started;
}

describe('mcpBodyErrorHandler()', () => {
  it('answers a 200 KB POST refused by a default express.json() with a JSON-RPC 413 envelope, not an HTML page', async () => {
    harness = await withParser(express.json());
    const response = await fetch(harness.mcpUrl, { method: 'POST', headers: streamableHeaders, body: bigInitialize(200_000) });
    expect(response.status).toBe(413);
    expect(response.headers.get('content-type')).toBe('application/json; charset=utf-8');
    const body = (await response.json()) as { jsonrpc: string; id: unknown; error: { code: number; message: string; data: { reason: string } } };
    expect(body).toMatchObject({ jsonrpc: '2.0', id: null, error: { code: -32000, data: { reason: 'message_too_large' } } });
    expect(body.error.message).toContain('102400 bytes');
    expect(body.error.message).toContain('maxMessageSize');
  });

  it('answers the same on the legacy messages route, and a body that is not JSON with -32700', async () => {
    harness = await withParser(express.json());
    const tooBig = await fetch(`${harness.baseUrl}/mcp/messages?sessionId=x`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: bigInitialize(200_000),
    });
    expect(tooBig.status).toBe(413);
    expect(await tooBig.json()).toMatchObject({ id: null, error: { data: { reason: 'message_too_large' } } });

    const notJson = await fetch(harness.mcpUrl, { method: 'POST', headers: streamableHeaders, body: '{"jsonrpc":' });
    expect(notJson.status).toBe(400);
    expect(await notJson.json()).toMatchObject({ id: null, error: { code: -32700, data: { reason: 'parse_error' } } });
  });

  it('answers an unsupported Content-Encoding with 415 unsupported_encoding', async () => {
    harness = await withParser(express.json());
    const response = await fetch(harness.mcpUrl, {
      method: 'POST',
      headers: { ...streamableHeaders, 'Content-Encoding': 'compress' },
      body: bigInitialize(10),
    });
    expect(response.status).toBe(415);
    expect(await response.json()).toMatchObject({ error: { data: { reason: 'unsupported_encoding' } } });
  });

  it('passes other errors on, and leaves paths it is not mounted on to the app', async () => {
    harness = await withParser(express.json());
    const { app } = harness;
    app.get('/boom', () => {
      throw new Error('not a body error');
    });
    app.use((error: Error, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
      res.status(599).json({ app: error.message });
    });
    const boom = await fetch(`${harness.baseUrl}/boom`);
    expect(boom.status).toBe(599);
    // Outside /mcp the app's own error handling answers the parser's refusal.
    const elsewhere = await fetch(`${harness.baseUrl}/api`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{' });
    expect(elsewhere.status).toBe(599);
  });
});

describe('express.json() set up as the README says', () => {
  it('with a limit of at least maxMessageSize, a 200 KB initialize opens a session', async () => {
    harness = await withParser(express.json({ limit: '4mb' }));
    const response = await fetch(harness.mcpUrl, { method: 'POST', headers: streamableHeaders, body: bigInitialize(200_000) });
    expect(response.status).toBe(200);
    expect(response.headers.get('mcp-session-id')).toBeTruthy();
    await response.body?.cancel();
  });

  it('mounted after the router, the router reads a 200 KB (gzip) body itself', async () => {
    harness = await startHarness();
    harness.app.use(express.json());
    const response = await fetch(harness.mcpUrl, {
      method: 'POST',
      headers: { ...streamableHeaders, 'Content-Encoding': 'gzip' },
      body: gzipSync(bigInitialize(200_000)),
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('mcp-session-id')).toBeTruthy();
    await response.body?.cancel();
  });
});
