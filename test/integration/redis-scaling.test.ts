// Several app instances (separate processes, built package) sharing sessions through Redis, directly and behind
// nginx round-robin without sticky sessions: SDK clients, broadcasts, and per-session message order.
import { randomUUID } from 'node:crypto';
import { connect } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ListRootsRequestSchema, LoggingMessageNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { startNginx, type Nginx } from './helpers/nginx.js';
import {
  connectClient,
  startInstance,
  startRedis,
  textOf,
  type Instance,
  type InstanceState,
  type RedisServer,
  type RoutedClient,
} from './helpers/redis.js';

let redis: RedisServer | undefined;
let nginx: Nginx | undefined;
let A: Instance, B: Instance, C: Instance;
const instances: Instance[] = [];
const clients: RoutedClient[] = [];

beforeAll(async () => {
  redis = await startRedis();
  const prefix = `scaling-${randomUUID().slice(0, 8)}`;
  const started = await Promise.all(['A', 'B', 'C'].map((name) => startInstance({ redisUrl: redis!.url, name, prefix })));
  instances.push(...started);
  [A, B, C] = started as [Instance, Instance, Instance];
  nginx = await startNginx([A.port, B.port]);
  await waitForConnected(instances);
});

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
});

afterAll(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await nginx?.stop();
  await Promise.all(instances.map((i) => i.stop()));
  await redis?.dispose();
});

async function client(sseUrl: string, postTo?: string): Promise<RoutedClient> {
  const c = await connectClient(sseUrl, postTo);
  clients.push(c);
  return c;
}

/**
 * The states of A and B once every forward one of them received was counted as forwarded by the other: an answer on
 * the stream may reach the client before the acknowledgement of its POST reaches the forwarding instance (the owner
 * sends acknowledgements at the end of its turn, with the other messages of that turn).
 */
async function countedStates(a0: InstanceState, b0: InstanceState): Promise<[InstanceState, InstanceState]> {
  const counted = (a: InstanceState, b: InstanceState) =>
    a.bus.received - a0.bus.received + b.bus.received - b0.bus.received === a.bus.forwarded - a0.bus.forwarded + b.bus.forwarded - b0.bus.forwarded;
  let states = await Promise.all([A.state(), B.state()]);
  for (let tries = 0; tries < 50 && !counted(...states); tries++) states = await Promise.all([A.state(), B.state()]);
  return states;
}

async function waitForConnected(list: Instance[], timeoutMs = 10_000): Promise<void> {
  const start = Date.now();
  for (;;) {
    const states = await Promise.all(list.map((i) => i.state()));
    if (states.every((s) => s.bus.connected)) return;
    if (Date.now() - start > timeoutMs) throw new Error(`buses not connected: ${JSON.stringify(states.map((s) => [s.instanceId, s.bus, s.errors]))}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** The full SDK round: tools, a tool call with progress notifications, and a server→client request. */
async function exercise(c: RoutedClient): Promise<void> {
  const { tools } = await c.client.listTools();
  expect(tools.map((t) => t.name)).toEqual(expect.arrayContaining(['echo', 'add', 'countdown', 'roots']));
  expect(textOf(await c.client.callTool({ name: 'add', arguments: { a: 2, b: 40 } }))).toBe('42');
  const progress: number[] = [];
  const result = await c.client.callTool({ name: 'countdown', arguments: { from: 5 } }, undefined, {
    onprogress: (p) => progress.push(p.progress),
  });
  expect(textOf(result)).toMatch(/^done on [AB]$/);
  expect(progress).toEqual([1, 2, 3, 4, 5]);
  expect(textOf(await c.client.callTool({ name: 'roots', arguments: {} }))).toBe('file:///client-root');
}

/** A Streamable HTTP SDK client; its session lives on whichever instance took its initialize. */
async function streamableClient(url: string): Promise<{ client: Client; sessionId: string }> {
  const client = new Client({ name: 'streamable-scaling', version: '1.0.0' }, { capabilities: { roots: {} } });
  client.setRequestHandler(ListRootsRequestSchema, async () => ({ roots: [{ uri: 'file:///client-root' }] }));
  const transport = new StreamableHTTPClientTransport(new URL(url));
  await client.connect(transport);
  clients.push({ close: () => client.close() } as RoutedClient);
  return { client, sessionId: transport.sessionId! };
}

const seq = (n: number) => ({ jsonrpc: '2.0', method: 'notifications/test/seq', params: { n } });
const range = (n: number) => Array.from({ length: n }, (_, i) => i);

describe('Redis session bus across processes', () => {
  it('serves an SDK client whose stream is on A while every POST goes to B', async () => {
    const [a0, b0] = await Promise.all([A.state(), B.state()]);
    const c = await client(A.sseUrl, B.baseUrl);
    await exercise(c);
    const [a1, b1] = await countedStates(a0, b0);
    expect(a1.sessions).toContain(c.sessionId);
    expect(b1.sessions).not.toContain(c.sessionId);
    // initialize, initialized, tools/list, 3 tool calls and the roots/list response: all forwarded by B.
    expect(b1.bus.forwarded - b0.bus.forwarded).toBe(7);
    expect(a1.bus.received - a0.bus.received).toBe(7);
    expect([...a1.errors, ...b1.errors]).toEqual([]);
  });

  it('serves an SDK client through nginx round-robin without sticky sessions', async () => {
    const [a0, b0] = await Promise.all([A.state(), B.state()]);
    const c = await client(`${nginx!.baseUrl}/mcp/sse`);
    await exercise(c);
    for (let i = 0; i < 10; i++)
      expect(textOf(await c.client.callTool({ name: 'echo', arguments: { text: `via nginx ${i}` } }))).toBe(`via nginx ${i}`);
    const [a1, b1] = await countedStates(a0, b0);
    const ownerIsA = a1.sessions.includes(c.sessionId);
    const [owner, other, owner0, other0] = ownerIsA ? [a1, b1, a0, b0] : [b1, a1, b0, a0];
    expect(owner.sessions).toContain(c.sessionId);
    // 17 POSTs alternate between the two instances: about half of them were forwarded.
    const forwarded = other.bus.forwarded - other0.bus.forwarded;
    expect(forwarded).toBeGreaterThanOrEqual(7);
    expect(owner.bus.received - owner0.bus.received).toBe(forwarded);
    expect(nginx!.errorLog()).not.toMatch(/\[(error|crit|alert|emerg)\]/);
  });

  it('serves a Streamable HTTP SDK client through nginx round-robin without sticky sessions', async () => {
    const [a0, b0] = await Promise.all([A.state(), B.state()]);
    const c = await streamableClient(`${nginx!.baseUrl}/mcp`);
    await exercise({ client: c.client } as RoutedClient);
    for (let i = 0; i < 10; i++)
      expect(textOf(await c.client.callTool({ name: 'echo', arguments: { text: `via nginx ${i}` } }))).toBe(`via nginx ${i}`);
    const [a1, b1] = await Promise.all([A.state(), B.state()]);
    const [owner, other, other0] = a1.sessions.includes(c.sessionId) ? [a1, b1, b0] : [b1, a1, a0];
    expect(owner.sessions).toContain(c.sessionId);
    expect(other.sessions).not.toContain(c.sessionId);
    // Requests alternate between the instances: the other one relayed about half of them to the owner.
    expect(other.bus.forwarded - other0.bus.forwarded).toBeGreaterThanOrEqual(7);
    expect([...a1.errors, ...b1.errors]).toEqual([]);
    expect(nginx!.errorLog()).not.toMatch(/\[(error|crit|alert|emerg)\]/);
  });

  it('delivers a broadcast triggered on C to a Streamable HTTP client behind nginx', async () => {
    const marker = `hello-${randomUUID()}`;
    const c = await streamableClient(`${nginx!.baseUrl}/mcp`);
    let count = 0;
    c.client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => {
      if (n.params.data === marker) count++;
    });
    // The client opens its standalone stream after initialization; broadcasts go there.
    await new Promise((resolve) => setTimeout(resolve, 300));
    await C.broadcast({ method: 'notifications/message', params: { level: 'info', data: marker } });
    const start = Date.now();
    while (count === 0) {
      if (Date.now() - start > 5000) throw new Error('broadcast not received by the Streamable HTTP client');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await new Promise((resolve) => setTimeout(resolve, 300)); // room for duplicates to show up
    expect(count).toBe(1);
  });

  it('delivers a broadcast triggered on C exactly once to clients on A, B and C', async () => {
    const marker = `hello-${randomUUID()}`;
    const onA = await client(A.sseUrl);
    const onB = await client(B.sseUrl);
    const onC = await client(C.sseUrl);
    const counts = new Map<RoutedClient, number>();
    for (const c of [onA, onB, onC]) {
      counts.set(c, 0);
      c.client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => {
        if (n.params.data === marker) counts.set(c, counts.get(c)! + 1);
      });
    }
    expect(await C.broadcast({ method: 'notifications/message', params: { level: 'info', data: marker } })).toBeGreaterThanOrEqual(1);
    const start = Date.now();
    while ([...counts.values()].some((n) => n === 0)) {
      if (Date.now() - start > 5000) throw new Error(`broadcast not received everywhere: ${[...counts.values()]}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await new Promise((resolve) => setTimeout(resolve, 300)); // room for duplicates to show up
    expect([...counts.values()]).toEqual([1, 1, 1]);
  });

  it('keeps order and results for 200 sequential tool calls forwarded through B (and measures the cost)', async () => {
    const c = await client(A.sseUrl, B.baseUrl);
    const calls = async (label: string) => {
      const texts: string[] = [];
      const start = performance.now();
      for (let i = 0; i < 200; i++) texts.push(textOf(await c.client.callTool({ name: 'echo', arguments: { text: `${label} ${i}` } })));
      expect(texts).toEqual(range(200).map((i) => `${label} ${i}`));
      return (performance.now() - start) / 200;
    };
    const forwarded = await calls('forwarded');
    c.postTo = undefined;
    const local = await calls('local');
    console.log(`tool call round trip: ${local.toFixed(2)} ms with local POSTs, ${forwarded.toFixed(2)} ms with POSTs forwarded through Redis`);
  });

  it('keeps order for a burst of 100 POSTs pipelined on one connection to B', async () => {
    const c = await client(A.sseUrl, B.baseUrl);
    await c.client.ping();
    const path = `/mcp/messages?sessionId=${c.sessionId}`;
    const requests = range(100).map((n) => {
      const body = JSON.stringify(seq(n));
      return `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1:${B.port}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
    });
    const statuses = await new Promise<number[]>((resolve, reject) => {
      const socket = connect(B.port, '127.0.0.1');
      let text = '';
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`pipelined burst timed out; got:\n${text.slice(0, 500)}`));
      }, 10_000);
      socket.on('data', (chunk) => {
        text += chunk.toString();
        const found = [...text.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));
        if (found.length === 100) {
          clearTimeout(timer);
          socket.destroy();
          resolve(found);
        }
      });
      socket.on('error', reject);
      socket.write(requests.join(''));
    });
    expect(statuses).toEqual(range(100).map(() => 202));
    expect(await A.received(c.sessionId)).toEqual(range(100));
  });

  it('keeps order for 100 POSTs through nginx, each awaited, alternating between instances', async () => {
    const c = await client(`${nginx!.baseUrl}/mcp/sse`);
    await c.client.ping();
    const url = `${nginx!.baseUrl}/mcp/messages?sessionId=${c.sessionId}`;
    for (const n of range(100)) {
      const response = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(seq(n)) });
      expect(response.status).toBe(202);
      await response.arrayBuffer();
    }
    const [a, b] = await Promise.all([A.received(c.sessionId), B.received(c.sessionId)]);
    expect(a.length > 0 ? a : b).toEqual(range(100));
  });
});
