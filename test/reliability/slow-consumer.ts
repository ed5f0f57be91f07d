// Shared by the slow-consumer test and its stress variant: a client that stops reading while the server pushes.
import net from 'node:net';
import v8 from 'node:v8';
import vm from 'node:vm';
import { expect } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import type { McpSseError } from '../../lib/index.js';
import { startHarness, waitFor, type Harness } from '../helpers/server.js';
import { sessionIdOf } from '../helpers/sse.js';

/** Opens the stream over a raw TCP socket, reads up to the endpoint event, then stops reading (socket.pause()). */
export function openStalledStream(sseUrl: string, headers: Record<string, string> = {}): Promise<{ socket: net.Socket; sessionId: string }> {
  const url = new URL(sseUrl);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(url.port), url.hostname);
    let head = '';
    const timer = setTimeout(() => reject(new Error('no endpoint event')), 5000);
    socket.on('error', () => {});
    const extra = Object.entries(headers)
      .map(([name, value]) => `${name}: ${value}\r\n`)
      .join('');
    socket.on('connect', () => socket.write(`GET ${url.pathname} HTTP/1.1\r\nHost: ${url.host}\r\nAccept: text/event-stream\r\n${extra}\r\n`));
    const onData = (chunk: Buffer) => {
      head += chunk.toString('latin1');
      const match = /event: endpoint\n(?:id: .*\n)?data: (.*)\n/.exec(head);
      if (match === null) return;
      socket.off('data', onData);
      socket.pause();
      clearTimeout(timer);
      expect(head).toMatch(/^HTTP\/1\.1 200 /);
      resolve({ socket, sessionId: sessionIdOf(match[1]!) });
    };
    socket.on('data', onData);
  });
}

/** A full GC: `global.gc` under --expose-gc (the stress project), else the same function reached through V8 flags. */
export function collectGarbage(): void {
  if (typeof global.gc === 'function') return global.gc();
  v8.setFlagsFromString('--expose-gc');
  (vm.runInNewContext('gc') as () => void)();
}

/** Heap the process holds on to: JS heap plus buffers outside it. */
export function retainedBytes(): number {
  collectGarbage();
  const { heapUsed, external } = process.memoryUsage();
  return heapUsed + external;
}

export interface SlowConsumerRun {
  harness: Harness;
  errors: McpSseError[];
  pushedBytes: number;
  rssBefore: number;
  rssPeak: number;
  /** Heap + external bytes after a full GC, before the push and after it. */
  retainedBefore: number;
  retainedAfter: number;
  /** The stalled client's socket (still paused). */
  socket: net.Socket;
  /** Calls of the other session's client that succeeded while and after the stream was pushed. */
  otherCalls: number;
  close(): Promise<void>;
}

/**
 * Pushes `totalBytes` of ~64 KB notifications at a stalled client while a real SDK client on another session
 * keeps calling a tool. Samples RSS throughout.
 */
export async function runSlowConsumer(options: { maxBufferedBytes?: number; totalBytes: number }): Promise<SlowConsumerRun> {
  const errors: McpSseError[] = [];
  const harness = await startHarness({ keepAliveMs: 0, maxBufferedBytes: options.maxBufferedBytes, onError: (e) => errors.push(e) });
  const other = new Client({ name: 'bystander', version: '1.0.0' });
  await other.connect(new SSEClientTransport(new URL(harness.sseUrl)));
  const { socket, sessionId } = await openStalledStream(harness.sseUrl);
  const transport = harness.router.sessions.get(sessionId)!;

  let otherCalls = 0;
  let pushing = true;
  const call = async () => {
    const result = await other.callTool({ name: 'add', arguments: { a: otherCalls, b: 1 } });
    expect((result.content as { text: string }[])[0]!.text).toBe(String(otherCalls + 1));
    otherCalls++;
  };
  const bystander = (async () => {
    // Paced, so its own allocations do not show up as RSS growth while the stalled stream waits to be cut.
    while (pushing) {
      await call();
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  })();

  // Let V8 size its heap for this kind of allocation first, so the RSS measured below is what the push retains
  // rather than the heap growing into its working size.
  for (let i = 0; i < 400; i++) {
    JSON.stringify({ i, pad: 'y'.repeat(64 * 1024) + i });
    if (i % 8 === 7) await new Promise((resolve) => setImmediate(resolve));
  }
  const retainedBefore = retainedBytes();
  const rssBefore = process.memoryUsage().rss;
  let rssPeak = rssBefore;
  const pad = 'x'.repeat(64 * 1024);
  let pushedBytes = 0;
  for (let i = 0; pushedBytes < options.totalBytes; i++) {
    await transport.sendNotification('notifications/blob', { i, pad });
    pushedBytes += pad.length;
    if (i % 8 === 7) {
      await new Promise((resolve) => setImmediate(resolve));
      rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
    }
  }
  rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
  pushing = false;
  await bystander;
  // And after: the other session is still fine.
  await call();
  await waitFor(() => harness.router.sessions.stats().detached === 1, 5000, 'the cut stream to detach');

  const retainedAfter = retainedBytes();
  return {
    harness,
    errors,
    pushedBytes,
    rssBefore,
    rssPeak,
    retainedBefore,
    retainedAfter,
    socket,
    otherCalls,
    async close() {
      socket.destroy();
      await other.close();
      await harness.close();
    },
  };
}
