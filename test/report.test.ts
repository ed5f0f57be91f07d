// Errors nobody listens to are not silent: server-side faults reach stderr once per code per minute, with their cause.
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ErrorCodes, McpSseError } from '../lib/errors.js';
import { log } from '../lib/log.js';
import { createReporter, faultLogIntervalMs } from '../lib/report.js';
import { buildServerV1, startHarness, type Harness } from './helpers/server.js';
import { initializeRequest, mcpReply } from './helpers/streamable.js';

const fault = (message = 'createServer() failed.') =>
  new McpSseError(ErrorCodes.createServer, message, { cause: new Error('Already connected to a transport. Call close() first.') });

describe('createReporter', () => {
  it('prints a server-side fault with its cause once per code per minute', () => {
    const lines: string[] = [];
    let now = 1_000;
    const report = createReporter({ onError: undefined, write: (text) => lines.push(text), now: () => now });
    report(fault(), { sessionId: 's-1' });
    report(fault(), { sessionId: 's-2' });
    report(new McpSseError(ErrorCodes.bus, 'The session bus failed to start.', { cause: new Error('ECONNREFUSED') }), {});
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(
      /^express-mcp-sse: ERR_MCP_SSE_CREATE_SERVER: createServer\(\) failed\. \(session s-1\)\n {2}Cause: Error: Already connected to a transport\. Call close\(\) first\.\n/,
    );
    expect(lines[0]).toContain('pass onError to createMcpSseRouter()');
    expect(lines[1]).toMatch(/^express-mcp-sse: ERR_MCP_SSE_BUS: The session bus failed to start\.\n {2}Cause: Error: ECONNREFUSED/);
    now += faultLogIntervalMs - 1;
    report(fault(), {});
    expect(lines).toHaveLength(2);
    now += 1;
    report(fault(), {});
    expect(lines).toHaveLength(3);
  });

  it('never prints what a client causes', () => {
    const write = vi.fn();
    const report = createReporter({ onError: undefined, write });
    for (const code of [ErrorCodes.slowConsumer, ErrorCodes.resumeGap, ErrorCodes.closed]) report(new McpSseError(code, 'client side'), {});
    expect(write).not.toHaveBeenCalled();
  });

  it('leaves everything to onError when there is one, and survives an onError that throws', () => {
    const write = vi.fn();
    const onError = vi.fn(() => {
      throw new Error('handler bug');
    });
    const report = createReporter({ onError, write });
    expect(() => report(fault(), {})).not.toThrow();
    expect(onError).toHaveBeenCalledOnce();
    expect(write).not.toHaveBeenCalled();
  });

  it('puts the cause in the debug log too', () => {
    const debugLines: string[] = [];
    const { enabled, log: print } = log;
    log.enabled = true;
    log.log = (...args: unknown[]) => debugLines.push(args.map(String).join(' '));
    try {
      createReporter({ onError: vi.fn() })(fault(), { sessionId: 's-9' });
    } finally {
      log.enabled = enabled;
      log.log = print;
    }
    expect(debugLines.join('\n')).toContain('Already connected to a transport');
  });
});

describe('a router without onError', () => {
  let harness: Harness | undefined;
  let stderr: string[] = [];
  afterEach(async () => {
    vi.restoreAllMocks();
    await harness?.close();
    harness = undefined;
    stderr = [];
  });
  const captureStderr = () =>
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => (stderr.push(String(chunk)), true));

  it('prints why createServer() failed (a shared server reused), once a minute', async () => {
    const shared = buildServerV1();
    harness = await startHarness({ createServer: () => shared });
    captureStderr();
    expect((await mcpReply(harness.mcpUrl, { body: initializeRequest() })).status).toBe(200);
    const second = await mcpReply(harness.mcpUrl, { body: initializeRequest() });
    expect(second.status).toBe(500);
    const printed = stderr.join('');
    expect(printed).toContain('ERR_MCP_SSE_CREATE_SERVER');
    expect(printed).toMatch(/Cause: Error: Already connected to a transport/);
    // Once a minute per code: the next failure (a different cause) stays in the debug log.
    await mcpReply(harness.mcpUrl, { body: initializeRequest() });
    expect(stderr.join('').match(/express-mcp-sse: ERR_MCP_SSE_CREATE_SERVER/g)).toHaveLength(1);
  });

  it('prints createServer() returning undefined', async () => {
    harness = await startHarness({ createServer: () => undefined as unknown as McpServer });
    captureStderr();
    expect((await mcpReply(harness.mcpUrl, { body: initializeRequest() })).status).toBe(500);
    expect(stderr.join('')).toMatch(/Cause: TypeError: createServer\(\) must return an MCP server/);
  });

  it('prints nothing for client mistakes', async () => {
    harness = await startHarness();
    captureStderr();
    const replies = await Promise.all([
      mcpReply(harness.mcpUrl, { body: '{not json' }),
      mcpReply(harness.mcpUrl, { body: { jsonrpc: '2.0', id: 1, method: 'ping' }, sessionId: 'nope' }),
      mcpReply(harness.mcpUrl, { body: initializeRequest(), accept: 'text/html' }),
      mcpReply(harness.mcpUrl, { method: 'PUT' }),
    ]);
    expect(replies.map((r) => r.status)).toEqual([400, 404, 406, 405]);
    expect(stderr.join('')).toBe('');
  });
});
