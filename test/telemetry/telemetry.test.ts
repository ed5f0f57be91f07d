// OpenTelemetry with the real SDK: one server span per JSON-RPC request (SDK v1 and v2 clients over both transports,
// and a 2026-07-28 request), parented on `_meta.traceparent` or the headers, active while the tool runs; metrics.
import { trace } from '@opentelemetry/api';
import { Client as ClientV1 } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport as SseV1 } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPClientTransport as StreamableV1 } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { McpServer as McpServerV1 } from '@modelcontextprotocol/sdk/server/mcp.js';
import { Client as ClientV2, SSEClientTransport as SseV2, StreamableHTTPClientTransport as StreamableV2 } from '@modelcontextprotocol/client';
import { McpServer as McpServerV2 } from '@modelcontextprotocol/server';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { JSONRPCMessage, StreamableHTTPTransport } from '../../lib/index.js';
import { startHarness, waitFor, type Harness } from '../helpers/server.js';
import { initializeRequest, lastIdOf, mcpReply, openMcpSession } from '../helpers/streamable.js';
import { type Otel, pointsOf, registerOtel } from './otel.js';

let otel: Otel;
let harness: Harness | undefined;
const closers: (() => Promise<unknown>)[] = [];

beforeAll(() => {
  otel = registerOtel();
});
afterAll(() => otel.shutdown());
beforeEach(() => otel.exporter.reset());
afterEach(async () => {
  for (const close of closers.splice(0)) await close().catch(() => {});
  await harness?.close();
  harness = undefined;
});

/** A tool that starts its own span, as instrumented code (a database client) would. */
const tracedTool = async () => {
  trace.getTracer('tool-code').startActiveSpan('tool work', (span) => span.end());
  return { content: [{ type: 'text' as const, text: 'done' }] };
};

function serverV1(): McpServerV1 {
  const server = new McpServerV1({ name: 'otel-v1', version: '1.0.0' });
  server.registerTool('lookup', { inputSchema: { q: z.string().optional() } }, tracedTool);
  server.registerTool('broken', {}, async () => ({ isError: true, content: [{ type: 'text' as const, text: 'no' }] }));
  server.registerPrompt('greet', {}, () => ({ messages: [{ role: 'user', content: { type: 'text', text: 'hi' } }] }));
  return server;
}

function serverV2(): McpServerV2 {
  const server = new McpServerV2({ name: 'otel-v2', version: '2.0.0' });
  server.registerTool('lookup', { inputSchema: z.object({ q: z.string().optional() }) }, tracedTool);
  return server;
}

/** Records the requests a client transport sends, to compare with the spans. */
function recordRequests<T extends { send(message: JSONRPCMessage, options?: unknown): Promise<void> }>(
  transport: T,
): { transport: T; sent: JSONRPCMessage[] } {
  const sent: JSONRPCMessage[] = [];
  const send = transport.send.bind(transport);
  transport.send = (message, options) => {
    if (message.method !== undefined && message.id !== undefined) sent.push(message);
    return send(message, options);
  };
  return { transport, sent };
}

const clients = {
  'SDK v1 over HTTP+SSE': async (h: Harness) => {
    const client = new ClientV1({ name: 'c1', version: '1' });
    const { transport, sent } = recordRequests(new SseV1(new URL(h.sseUrl)) as never);
    await client.connect(transport as never);
    closers.push(() => client.close());
    return { client: client as ClientV1 | ClientV2, sent };
  },
  'SDK v1 over Streamable HTTP': async (h: Harness) => {
    const client = new ClientV1({ name: 'c1', version: '1' });
    const { transport, sent } = recordRequests(new StreamableV1(new URL(h.mcpUrl)) as never);
    await client.connect(transport as never);
    closers.push(() => client.close());
    return { client: client as ClientV1 | ClientV2, sent };
  },
  'SDK v2 over HTTP+SSE': async (h: Harness) => {
    const client = new ClientV2({ name: 'c2', version: '2' });
    const { transport, sent } = recordRequests(new SseV2(new URL(h.sseUrl)) as never);
    await client.connect(transport as never);
    closers.push(() => client.close());
    return { client: client as ClientV1 | ClientV2, sent };
  },
  'SDK v2 over Streamable HTTP': async (h: Harness) => {
    const client = new ClientV2({ name: 'c2', version: '2' }, { versionNegotiation: { mode: 'legacy' } } as never);
    const { transport, sent } = recordRequests(new StreamableV2(new URL(h.mcpUrl)) as never);
    await client.connect(transport as never);
    closers.push(() => client.close());
    return { client: client as ClientV1 | ClientV2, sent };
  },
};

describe('one server span per request', () => {
  it.each(Object.entries(clients))('%s', async (_name, connect) => {
    harness = await startHarness({ createServer: () => serverV1() });
    const { client, sent } = await connect(harness);
    await client.listTools();
    await client.callTool({ name: 'lookup', arguments: { q: 'x' } });
    const spans = otel.serverSpans();
    // Exactly the requests the client sent, each once, with the conventions' names and attributes.
    expect(spans.map((s) => s.attributes['jsonrpc.request.id']).sort()).toEqual(sent.map((m) => String(m.id)).sort());
    expect(spans.map((s) => s.name)).toEqual(expect.arrayContaining(['initialize', 'tools/list', 'tools/call lookup']));
    const sessionId = spans[0]!.attributes['mcp.session.id'];
    expect(typeof sessionId).toBe('string');
    const call = spans.find((s) => s.name === 'tools/call lookup')!;
    expect(call.kind).toBe(1); // SpanKind.SERVER
    expect(call.attributes).toMatchObject({
      'mcp.method.name': 'tools/call',
      'gen_ai.tool.name': 'lookup',
      'gen_ai.operation.name': 'execute_tool',
      'mcp.session.id': sessionId,
      'mcp.protocol.version': expect.stringMatching(/^20\d\d-\d\d-\d\d$/),
      'network.transport': 'tcp',
      'network.protocol.name': 'http',
    });
    expect(call.attributes['error.type']).toBeUndefined();
    // The tool's own span nests under the request span.
    const toolSpan = otel.exporter.getFinishedSpans().find((s) => s.name === 'tool work')!;
    expect(toolSpan.parentSpanContext?.spanId).toBe(call.spanContext().spanId);
    expect(toolSpan.spanContext().traceId).toBe(call.spanContext().traceId);
  });

  it('a 2026-07-28 request (SDK v2 client pinned to 2026) gets its span, and the tool nests under it', async () => {
    harness = await startHarness({ createServer: () => serverV2() });
    const client = new ClientV2({ name: 'c2026', version: '2' }, { versionNegotiation: { mode: { pin: '2026-07-28' } } } as never);
    const { transport, sent } = recordRequests(new StreamableV2(new URL(harness.mcpUrl)) as never);
    await client.connect(transport as never);
    closers.push(() => client.close());
    await client.callTool({ name: 'lookup', arguments: {} });
    await waitFor(() => otel.serverSpans().length >= sent.length, 5000, 'a span per 2026 request');
    const spans = otel.serverSpans();
    expect(spans.map((s) => s.attributes['jsonrpc.request.id']).sort()).toEqual(sent.map((m) => String(m.id)).sort());
    const call = spans.find((s) => s.name === 'tools/call lookup')!;
    expect(call.attributes).toMatchObject({ 'mcp.protocol.version': '2026-07-28', 'gen_ai.tool.name': 'lookup' });
    expect(call.attributes['mcp.session.id']).toBeUndefined();
    const toolSpan = otel.exporter.getFinishedSpans().find((s) => s.name === 'tool work')!;
    expect(toolSpan.parentSpanContext?.spanId).toBe(call.spanContext().spanId);
  });
});

describe('trace context', () => {
  const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
  const parentId = '00f067aa0ba902b7';

  it('a traceparent in params._meta becomes the parent (SDK v1 client over HTTP+SSE)', async () => {
    harness = await startHarness({ createServer: () => serverV1() });
    const { client } = await clients['SDK v1 over HTTP+SSE'](harness);
    await (client as ClientV1).callTool({
      name: 'lookup',
      arguments: {},
      _meta: { traceparent: `00-${traceId}-${parentId}-01`, tracestate: 'vendor=1' },
    });
    const call = otel.serverSpans().find((s) => s.name === 'tools/call lookup')!;
    expect(call.spanContext().traceId).toBe(traceId);
    expect(call.parentSpanContext).toMatchObject({ traceId, spanId: parentId, isRemote: true });
    expect(call.spanContext().traceState?.get('vendor')).toBe('1');
  });

  it('without _meta, the traceparent header of the HTTP request is the parent (Streamable HTTP)', async () => {
    harness = await startHarness({ createServer: () => serverV1() });
    const reply = await mcpReply(harness.mcpUrl, { body: initializeRequest(), headers: { traceparent: `00-${traceId}-${parentId}-01` } });
    expect(reply.status).toBe(200);
    const [span] = otel.serverSpans();
    expect(span).toMatchObject({ name: 'initialize', parentSpanContext: { traceId, spanId: parentId } });
    expect(span!.attributes['mcp.protocol.version']).toBe('2025-11-25');
  });
});

describe('around the requests', () => {
  it('a resumed stream gets an mcp.stream.resume span in the trace of the resume request', async () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const parentId = '00f067aa0ba902b7';
    harness = await startHarness({ keepAliveMs: 0, createServer: () => serverV1() });
    const session = await openMcpSession(harness.mcpUrl);
    const standalone = await session.listen();
    await standalone.until((events) => events.length > 0, 5000, 'priming');
    const id = lastIdOf(standalone);
    standalone.destroy();
    const transport = harness.router.sessions.get(session.sessionId) as StreamableHTTPTransport;
    await waitFor(() => !transport.hasStandaloneStream, 5000, 'the server to see the stream go');
    otel.exporter.reset();
    const resumed = await session.request({ method: 'GET', lastEventId: id, headers: { traceparent: `00-${traceId}-${parentId}-01` } });
    expect(resumed.status).toBe(200);
    resumed.destroy();
    const spans = otel.exporter.getFinishedSpans().filter((span) => span.name === 'mcp.stream.resume');
    expect(spans).toHaveLength(1);
    expect(spans[0]).toMatchObject({ parentSpanContext: { traceId, spanId: parentId } });
    expect(spans[0]!.attributes['mcp.session.id']).toBe(session.sessionId);
    expect(spans[0]!.attributes['error.type']).toBeUndefined();
  });
});

describe('errors and metrics', () => {
  it('records error.type for a JSON-RPC error, the duration histograms and the session gauges', async () => {
    harness = await startHarness({ createServer: () => serverV1() });
    const { client } = await clients['SDK v1 over Streamable HTTP'](harness);
    await expect(client.getPrompt({ name: 'nope' })).rejects.toThrow();
    await client.getPrompt({ name: 'greet' });
    await client.callTool({ name: 'broken', arguments: {} });
    // A tool result with isError: the call succeeded as JSON-RPC, the tool failed.
    expect(otel.serverSpans().find((s) => s.name === 'tools/call broken')!.attributes).toMatchObject({ 'error.type': 'tool_error' });
    const failed = otel.serverSpans().find((s) => s.name === 'prompts/get nope')!;
    expect(failed.attributes).toMatchObject({ 'error.type': '-32602', 'rpc.response.status_code': '-32602', 'gen_ai.prompt.name': 'nope' });
    expect(failed.status.code).toBe(2); // SpanStatusCode.ERROR
    let collected = await otel.collect();
    const operations = pointsOf(collected, 'mcp.server.operation.duration');
    const greet = operations.find((p) => p.attributes['gen_ai.prompt.name'] === 'greet')!;
    expect(greet.attributes).toMatchObject({ 'mcp.method.name': 'prompts/get', 'network.transport': 'tcp' });
    expect(greet.attributes['mcp.session.id']).toBeUndefined(); // high cardinality: spans only
    expect((greet.value as { count: number }).count).toBe(1);
    expect(operations.some((p) => p.attributes['error.type'] === '-32602')).toBe(true);
    const active = pointsOf(collected, 'mcp.server.session.count').find(
      (p) => p.attributes['mcp.transport'] === 'streamable-http' && p.attributes['mcp.session.state'] === 'active',
    );
    const detached = pointsOf(collected, 'mcp.server.session.count').find(
      (p) => p.attributes['mcp.transport'] === 'streamable-http' && p.attributes['mcp.session.state'] === 'detached',
    );
    expect(Number(active!.value) + Number(detached!.value)).toBe(1);
    expect(pointsOf(collected, 'mcp.server.sessions.opened')[0]!.value).toBeGreaterThanOrEqual(1);
    // Ending the session records its duration.
    await harness.router.sessions.closeAll();
    collected = await otel.collect();
    const sessions = pointsOf(collected, 'mcp.server.session.duration');
    expect(sessions.some((p) => p.attributes['mcp.protocol.version'] === '2025-11-25' && (p.value as { count: number }).count >= 1)).toBe(true);
  });

  it('ends the span of a request still open when its session closes', async () => {
    let release!: () => void;
    let started!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const running = new Promise<void>((resolve) => (started = resolve));
    harness = await startHarness({
      createServer: () => {
        const server = serverV1();
        server.registerTool('hang', {}, async () => {
          started();
          await held;
          return { content: [] };
        });
        return server;
      },
    });
    const { client } = await clients['SDK v1 over Streamable HTTP'](harness);
    const pending = client.callTool({ name: 'hang', arguments: {} }).catch(() => undefined);
    await running;
    // The tool is released only after the session closed: its late answer has nowhere to go.
    await harness.router.sessions.closeAll();
    release();
    void pending; // the client's call fails when the client closes
    const hang = otel.serverSpans().find((s) => s.name === 'tools/call hang')!;
    expect(hang.attributes['error.type']).toBe('session_closed');
  });
});
