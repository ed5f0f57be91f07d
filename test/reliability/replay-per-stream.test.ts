// Replay per stream: a flood on the standalone stream never costs a quiet request stream its answer, and the
// router-wide cap (maxReplayBytes) bounds what all sessions hold together.
import { afterEach, describe, expect, it } from 'vitest';
import type { StreamableHTTPTransport } from '../../lib/index.js';
import { startHarness, waitFor, type Harness } from '../helpers/server.js';
import {
  callTool,
  Gates,
  lastIdOf,
  messagesOf,
  openMcpSession,
  pausingServer,
  resumeStream,
  toolText,
  type RawSession,
} from '../helpers/streamable.js';
import type { RawStream } from '../helpers/sse.js';

let harness: Harness | undefined;
const streams: RawStream[] = [];
afterEach(async () => {
  for (const stream of streams.splice(0)) stream.destroy();
  await harness?.close();
  harness = undefined;
});

const track = (stream: RawStream) => (streams.push(stream), stream);
const flood = (router: Harness['router'], count: number) => {
  for (let i = 0; i < count; i++) router.sessions.broadcast({ method: 'notifications/message', params: { level: 'info', data: 'x'.repeat(200) } });
};

describe('replay per stream', () => {
  it('resumes a polling tool after a broadcast flood far past maxBufferedBytes on the standalone stream', async () => {
    const gates = new Gates();
    harness = await startHarness({ keepAliveMs: 0, maxBufferedBytes: 4096, createServer: (session) => pausingServer(session, gates) });
    const session = await openMcpSession(harness.mcpUrl);
    const call = track(await session.request({ body: callTool(7, 'poll', { name: 'quiet' }) }));
    await gates.reached('quiet');
    await call.done; // the tool ended its own stream (SSE polling)
    flood(harness.router, 200); // about 60 KB on the standalone stream, nobody reading it
    gates.open('quiet');
    const resumed = track(await resumeStream(session, lastIdOf(call)));
    expect(resumed.status).toBe(200);
    await resumed.done;
    expect(toolText(messagesOf(resumed.events).find((m) => m.id === 7))).toBe('quiet done');
  });

  it('still refuses a resume of the flooded stream itself once its frames are gone (400, never a silent loss)', async () => {
    harness = await startHarness({ keepAliveMs: 0, maxBufferedBytes: 4096 });
    const session = await openMcpSession(harness.mcpUrl);
    const primingId = await dropStandalone(harness, session);
    flood(harness.router, 200);
    const resumed = await resumeStream(session, primingId);
    expect(resumed.status).toBe(400);
  });

  it('keeps all sessions under maxReplayBytes, the oldest idle sessions shrinking first', async () => {
    harness = await startHarness({ keepAliveMs: 0, maxReplayBytes: 64 * 1024 });
    const idle = [await openMcpSession(harness.mcpUrl), await openMcpSession(harness.mcpUrl)];
    const idleIds = [await dropStandalone(harness, idle[0]!), await dropStandalone(harness, idle[1]!)];
    flood(harness.router, 200); // ~56 KB for each idle session: past the cap together
    const active = await openMcpSession(harness.mcpUrl);
    const reading = track(await active.listen());
    await reading.until((events) => events.length > 0, 5000, 'priming');
    const activeId = lastIdOf(reading);
    flood(harness.router, 50); // ~14 KB more for each session
    await reading.until((events) => messagesOf(events).length === 50, 5000, 'the 50 broadcasts');
    expect(replayUsed(harness)).toBeLessThanOrEqual(64 * 1024);
    // The active session kept every frame; the idle ones gave theirs up.
    reading.destroy();
    const resumed = track(await resumeStream(active, activeId));
    expect(resumed.status).toBe(200);
    await resumed.until((events) => messagesOf(events).length === 50, 5000, 'the replay');
    expect((await resumeStream(idle[0]!, idleIds[0]!)).status).toBe(400);
  });
});

/** Opens the standalone stream, reads its priming id, drops it and waits until the server saw it go. */
async function dropStandalone(h: Harness, session: RawSession): Promise<string> {
  const standalone = await session.listen();
  await standalone.until((events) => events.length > 0, 5000, 'priming');
  const id = lastIdOf(standalone);
  standalone.destroy();
  const transport = h.router.sessions.get(session.sessionId) as StreamableHTTPTransport;
  await waitFor(() => !transport.hasStandaloneStream, 5000, 'the server to see the stream go');
  return id;
}

/** What the replay buffers of the harness's router hold now (read through a session's settings, test-only). */
function replayUsed(h: Harness): number {
  const session = [...h.router.sessions][0] as unknown as { settings: { replayBudget: { used: number } } };
  return session.settings.replayBudget.used;
}
