// SSE polling from tools, used as the SDK documents it: close the stream, then return, notify or broadcast at once.
// Each of these used to end the process with ERR_STREAM_WRITE_AFTER_END (a write to a response already ended).
import { afterEach, describe, expect, it } from 'vitest';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { McpSseRouter, SessionContext } from '../../lib/index.js';
import { buildServerV1, startHarness, type Harness } from '../helpers/server.js';
import { callTool, lastIdOf, logged, messagesOf, openMcpSession, resumeStream, toolText, type RawSession } from '../helpers/streamable.js';
import type { RawStream } from '../helpers/sse.js';

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
