// SSE polling from tools, used as the SDK documents it: close the stream, then return, notify or broadcast at once.
// Each of these used to end the process with ERR_STREAM_WRITE_AFTER_END (a write to a response already ended).
import { afterEach, describe, expect, it } from 'vitest';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { McpSseRouter, SessionContext } from '../../lib/index.js';
import { buildServerV1, startHarness, type Harness } from '../helpers/server.js';
import { callTool, lastIdOf, logged, messagesOf, openMcpSession, resumeStream, toolText, type RawSession } from '../helpers/streamable.js';
import type { RawStream } from '../helpers/sse.js';
import { Client as ClientV1 } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport as StreamableV1 } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { Client as ClientV2, StreamableHTTPClientTransport as StreamableV2 } from '@modelcontextprotocol/client';

let harness: Harness | undefined;
const streams: RawStream[] = [];
afterEach(async () => {
  for (const stream of streams.splice(0)) stream.destroy();
  await harness?.close();
  harness = undefined;
});

interface PollingExtra {
  sendNotification(notification: { method: string; params: Record<string, unknown> }): Promise<void>;
  closeSSEStream?: () => void;
  closeStandaloneSSEStream?: () => void;
}

/** Tools that poll and act in the same tick: the shapes real tools take. */
function pollingServer(session: SessionContext, router: () => McpSseRouter): McpServer {
  const server = buildServerV1(session);
  server.registerTool('close-and-return', { inputSchema: {} }, async (_args, extra) => {
    (extra as unknown as PollingExtra).closeSSEStream?.();
    return { content: [{ type: 'text', text: 'returned' }] };
  });
  server.registerTool('close-and-notify', { inputSchema: {} }, async (_args, extra) => {
    const polling = extra as unknown as PollingExtra;
    polling.closeSSEStream?.();
    await polling.sendNotification(logged('after close'));
    return { content: [{ type: 'text', text: 'notified' }] };
  });
  server.registerTool('close-standalone-and-broadcast', { inputSchema: {} }, async (_args, extra) => {
    (extra as unknown as PollingExtra).closeStandaloneSSEStream?.();
    router().sessions.broadcast({ method: 'notifications/resources/list_changed' });
    return { content: [{ type: 'text', text: 'broadcast' }] };
  });
  return server;
}

async function start(keepAliveMs = 0): Promise<Harness> {
  let router!: McpSseRouter;
  harness = await startHarness({ keepAliveMs, retryMs: 10, createServer: (session) => pollingServer(session, () => router) });
  router = harness.router;
  return harness;
}

function track(stream: RawStream): RawStream {
  streams.push(stream);
  return stream;
}

/** Calls `tool` on a POST stream; when the stream ends before the result, resumes it until the result arrives. */
async function callPolling(session: RawSession, id: number, tool: string): Promise<{ text: string | undefined; logs: string[] }> {
  let stream = track(await session.request({ body: callTool(id, tool) }));
  const messages: Record<string, unknown>[] = [];
  for (let attempt = 0; attempt < 20; attempt++) {
    await stream.done;
    messages.push(...messagesOf(stream.events));
    const result = messages.find((m) => m.id === id);
    if (result !== undefined) {
      const logs = messages.filter((m) => m.method === 'notifications/message').map((m) => String((m.params as { data: unknown }).data));
      return { text: toolText(result), logs };
    }
    stream = track(await resumeStream(session, lastIdOf(stream)));
    expect(stream.status).toBe(200);
  }
  throw new Error(`no result for ${tool}`);
}

describe('SSE polling from a tool, with no pause after closing', () => {
  it('closeSSEStream() then returning: the result arrives on resume, the process lives', async () => {
    const h = await start();
    const session = await openMcpSession(h.mcpUrl);
    for (let id = 1; id <= 5; id++) expect((await callPolling(session, id, 'close-and-return')).text).toBe('returned');
  });

  it('closeSSEStream() then a notification: both arrive on resume, in order', async () => {
    const h = await start();
    const session = await openMcpSession(h.mcpUrl);
    const { text, logs } = await callPolling(session, 1, 'close-and-notify');
    expect(text).toBe('notified');
    expect(logs).toEqual(['after close']);
  });

  it('closeStandaloneSSEStream() then broadcast: the standalone stream resumes with the broadcast', async () => {
    const h = await start();
    const session = await openMcpSession(h.mcpUrl);
    const standalone = track(await session.listen());
    await standalone.until((events) => events.length > 0, 5000, 'the priming event');
    const { text } = await callPolling(session, 1, 'close-standalone-and-broadcast');
    expect(text).toBe('broadcast');
    await standalone.done;
    const resumed = track(await resumeStream(session, lastIdOf(standalone)));
    await resumed.until((events) => messagesOf(events).some((m) => m.method === 'notifications/resources/list_changed'), 5000, 'the broadcast');
  });

  it('holds with keep-alive ticks every 5 ms on the streams being ended', async () => {
    const h = await start(5);
    const session = await openMcpSession(h.mcpUrl);
    const standalone = track(await session.listen());
    await standalone.until((events) => events.length > 0, 5000, 'the priming event');
    for (let id = 1; id <= 10; id++) {
      const tool = ['close-and-return', 'close-and-notify', 'close-standalone-and-broadcast'][id % 3]!;
      expect((await callPolling(session, id, tool)).text).toBeDefined();
    }
  });
});

describe('real SDK clients calling polling tools in a loop', () => {
  const reconnectionOptions = { initialReconnectionDelay: 10, maxReconnectionDelay: 50, reconnectionDelayGrowFactor: 1.5, maxRetries: 10 };
  const tools = ['close-and-return', 'close-and-notify', 'close-standalone-and-broadcast'];

  it('SDK v1: every call gets its result, and the process lives', async () => {
    const h = await start(5);
    const client = new ClientV1({ name: 'poller-v1', version: '1.0.0' });
    const transport = new StreamableV1(new URL(h.mcpUrl), { reconnectionOptions });
    await client.connect(transport);
    try {
      for (let i = 0; i < 30; i++) {
        const result = (await client.callTool({ name: tools[i % 3]!, arguments: {} })) as { content: { text: string }[] };
        expect(result.content[0]!.text).toBe(['returned', 'notified', 'broadcast'][i % 3]);
      }
    } finally {
      await client.close();
    }
  });

  it('SDK v2: every call gets its result, and the process lives', async () => {
    const h = await start(5);
    const client = new ClientV2({ name: 'poller-v2', version: '2.0.0' });
    const transport = new StreamableV2(new URL(h.mcpUrl), { reconnectionOptions });
    await client.connect(transport);
    try {
      for (let i = 0; i < 30; i++) {
        const result = (await client.callTool({ name: tools[i % 3]!, arguments: {} })) as { content: { text: string }[] };
        expect(result.content[0]!.text).toBe(['returned', 'notified', 'broadcast'][i % 3]);
      }
    } finally {
      await client.close();
    }
  });
});

describe('many sessions polling while resumes are cut', () => {
  it('40 sessions: half of all resumes cut at random, keep-alive every 5 ms; each result arrives exactly once', async () => {
    const h = await start(5);
    const sessions = await Promise.all(Array.from({ length: 40 }, () => openMcpSession(h.mcpUrl)));
    let seed = 42;
    const coin = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) & 1) === 1;
    await Promise.all(
      sessions.map(async (session, index) => {
        let stream = track(await session.request({ body: callTool(index, 'close-and-notify') }));
        const messages: Record<string, unknown>[] = [];
        let lastId: string | undefined;
        for (let attempt = 0; attempt < 50; attempt++) {
          if (coin()) {
            // Cut this connection as soon as it has started: the client resumes from the last id it holds.
            await stream.until((events) => events.length > 0 || stream.closed, 5000, 'a first event').catch(() => {});
            stream.destroy();
          }
          await stream.done;
          messages.push(...messagesOf(stream.events));
          lastId = stream.events.findLast((e) => e.id !== undefined)?.id ?? lastId;
          if (messages.some((m) => m.id === index)) break;
          stream = track(await resumeStream(session, lastId!));
          expect(stream.status).toBe(200);
        }
        expect(messages.filter((m) => m.id === index)).toHaveLength(1);
        expect(messages.filter((m) => m.method === 'notifications/message')).toHaveLength(1);
      }),
    );
    expect(h.router.sessions.stats().slowConsumerCuts).toBe(0);
  });
});
