// Model-based test of a session's lifecycle over a real router: random interleavings of tool returns, SSE polling
// (closeSSEStream, closeStandaloneSSEStream), broadcasts, client aborts, resumes, keep-alive ticks, DELETE,
// eviction and drain. After every run: every call answered (or resumable to its answer), every server closed
// exactly once, nothing open. An uncaught error anywhere fails the file.
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { McpSseRouter, SessionContext } from '../../lib/index.js';
import { buildServerV1, startHarness, type Harness } from '../helpers/server.js';
import type { RawStream } from '../helpers/sse.js';
import { callTool, lastIdOf, logged, messagesOf, openMcpSession, resumeStream, toolText, type RawSession } from '../helpers/streamable.js';

interface PollingExtra {
  sendNotification(notification: { method: string; params: Record<string, unknown> }): Promise<void>;
  closeSSEStream?: () => void;
  closeStandaloneSSEStream?: () => void;
}

/** What a tool does, in the same tick, before it returns. */
const behaviours = ['return', 'close-and-return', 'close-and-notify', 'close-standalone-and-broadcast', 'notify-and-return'] as const;
type Behaviour = (typeof behaviours)[number];

/** Tools wait for the test to release them, then act as told. */
class World {
  readonly releases = new Map<number, () => void>();
  readonly waiting = new Map<number, Promise<void>>();
  created = 0;
  readonly closes = new Map<string, number>();
  router!: McpSseRouter;

  gate(id: number): Promise<void> {
    let gate = this.waiting.get(id);
    if (gate === undefined) {
      gate = new Promise<void>((resolve) => this.releases.set(id, resolve));
      this.waiting.set(id, gate);
    }
    return gate;
  }

  release(id: number): void {
    this.gate(id);
    this.releases.get(id)!();
  }

  server(session: SessionContext) {
    this.created++;
    const server = buildServerV1(session);
    const close = server.close.bind(server);
    server.close = async () => {
      this.closes.set(session.sessionId!, (this.closes.get(session.sessionId!) ?? 0) + 1);
      await close();
    };
    server.registerTool('act', { inputSchema: { id: z.number(), behaviour: z.enum(behaviours) } }, async ({ id, behaviour }, extra) => {
      await this.gate(id);
      const polling = extra as unknown as PollingExtra;
      if (behaviour === 'close-and-return' || behaviour === 'close-and-notify') polling.closeSSEStream?.();
      if (behaviour === 'close-and-notify' || behaviour === 'notify-and-return') await polling.sendNotification(logged(`note ${id}`));
      if (behaviour === 'close-standalone-and-broadcast') {
        polling.closeStandaloneSSEStream?.();
        this.router.sessions.broadcast({ method: 'notifications/resources/list_changed' });
      }
      return { content: [{ type: 'text', text: `done ${id}` }] };
    });
    return server;
  }
}

type Action =
  | { kind: 'call'; behaviour: Behaviour }
  | { kind: 'release'; pick: number }
  | { kind: 'abort'; pick: number }
  | { kind: 'resume'; pick: number }
  | { kind: 'listen' }
  | { kind: 'drop-listen' }
  | { kind: 'broadcast' }
  | { kind: 'tick' };

const action: fc.Arbitrary<Action> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('call' as const), behaviour: fc.constantFrom(...behaviours) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('release' as const), pick: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('abort' as const), pick: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('resume' as const), pick: fc.nat() }) },
  fc.constant({ kind: 'listen' as const }),
  fc.constant({ kind: 'drop-listen' as const }),
  fc.constant({ kind: 'broadcast' as const }),
  fc.constant({ kind: 'tick' as const }),
);

/** How the run ends: the client deletes its session, the router drains, or the session is evicted. */
const ending = fc.constantFrom('delete', 'drain', 'evict');

interface Call {
  id: number;
  stream: RawStream;
  /** Every message received for this call, across its resumes. */
  messages: Record<string, unknown>[];
  /** The last event id the client holds for this call's stream (a resumed stream may bring no new event). */
  lastId?: string;
}

let harness: Harness | undefined;
const open: RawStream[] = [];
afterEach(async () => {
  for (const stream of open.splice(0)) stream.destroy();
  await harness?.close();
  harness = undefined;
});

const track = (stream: RawStream): RawStream => (open.push(stream), stream);
const resultOf = (call: Call) => call.messages.find((m) => m.id === call.id && ('result' in m || 'error' in m));

/** Takes what the call's current stream brought (it is over), then resumes it from the last id the client holds. */
async function resumeCall(session: RawSession, call: Call): Promise<void> {
  call.messages.push(...messagesOf(call.stream.events));
  call.lastId = call.stream.events.findLast((e) => e.id !== undefined)?.id ?? call.lastId;
  if (resultOf(call) !== undefined) return;
  const resumed = track(await resumeStream(session, call.lastId!));
  expect(resumed.status).toBe(200);
  call.stream = resumed;
}

/** Reads a call's stream to its end, then resumes it until the answer arrived. */
async function settle(session: RawSession, call: Call): Promise<void> {
  for (let attempt = 0; attempt < 20 && resultOf(call) === undefined; attempt++) {
    await call.stream.done;
    await resumeCall(session, call);
  }
}

describe('session lifecycle under random interleavings (fast-check)', () => {
  it('answers every call, closes every server once, and leaves nothing open', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(action, { minLength: 1, maxLength: 25 }), ending, async (actions, end) => {
        const world = new World();
        harness = await startHarness({ keepAliveMs: 5, retryMs: 5, maxSessions: 1, createServer: (session) => world.server(session) });
        world.router = harness.router;
        const h = harness;
        const session = await openMcpSession(h.mcpUrl);
        const calls: Call[] = [];
        let standalone: RawStream | undefined;
        const pick = (n: number) => (calls.length === 0 ? undefined : calls[n % calls.length]);

        for (const step of actions) {
          switch (step.kind) {
            case 'call': {
              const id = calls.length + 1;
              const stream = track(await session.request({ body: callTool(id, 'act', { id, behaviour: step.behaviour }) }));
              expect(stream.status).toBe(200);
              calls.push({ id, stream, messages: [] });
              break;
            }
            case 'release': {
              const call = pick(step.pick);
              if (call !== undefined) world.release(call.id);
              break;
            }
            case 'abort': {
              // The client drops its connection once it holds an id to resume from (the priming event, at least).
              const call = pick(step.pick);
              if (call === undefined) break;
              if (call.lastId === undefined) await call.stream.until((events) => events.length > 0, 5000, 'the priming event');
              call.stream.destroy();
              break;
            }
            case 'resume': {
              const call = pick(step.pick);
              if (call === undefined || !call.stream.closed) break;
              await resumeCall(session, call);
              break;
            }
            case 'listen':
              if (standalone === undefined || standalone.closed) {
                const stream = await resumeStream(session, standalone?.events.length ? lastIdOf(standalone) : '', 40);
                expect(stream.status).toBe(200);
                standalone = track(stream);
              }
              break;
            case 'drop-listen':
              standalone?.destroy();
              break;
            case 'broadcast':
              h.router.sessions.broadcast(logged('to everyone'));
              break;
            case 'tick': {
              // Time passes: wait for the next keep-alive comment (every 5 ms) on some open stream, if any.
              const reading = [standalone, ...calls.map((c) => c.stream)].find((s) => s !== undefined && !s.closed);
              if (reading !== undefined) {
                const seen = reading.comments.length;
                await reading.until(() => reading.comments.length > seen || reading.closed, 2000, 'a keep-alive tick').catch(() => {});
              }
              break;
            }
          }
        }

        // Every call is answered: release every tool, then read (or resume) each call to its answer.
        for (const call of calls) world.release(call.id);
        for (const call of calls) await settle(session, call);
        for (const call of calls) expect(toolText(resultOf(call))).toBe(`done ${call.id}`);

        if (end === 'delete') expect((await session.reply({ method: 'DELETE' })).status).toBe(200);
        else if (end === 'evict') {
          // With maxSessions: 1, a new session evicts this one once it is idle (nothing open, nothing in flight).
          for (const stream of open) stream.destroy();
          await expect.poll(() => h.router.sessions.stats().detached, { timeout: 5000 }).toBe(1);
          await openMcpSession(h.mcpUrl);
        }
        await h.router.close({ timeoutMs: 2000 });
        for (const stream of open.splice(0)) stream.destroy();
        const stats = h.router.sessions.stats();
        expect(h.router.sessions.size).toBe(0);
        expect(stats.active + stats.detached).toBe(0);
        expect(stats.opened).toBe(stats.closed);
        expect(world.closes.size).toBe(world.created);
        for (const count of world.closes.values()) expect(count).toBe(1);
        await harness.close();
        harness = undefined;
      }),
      // FC_SEED replays a reported failure.
      { numRuns: 30, ...(process.env.FC_SEED === undefined ? {} : { seed: Number(process.env.FC_SEED) }) },
    );
  }, 120_000);
});
