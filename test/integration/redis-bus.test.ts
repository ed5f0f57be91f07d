// The Redis session bus in one process: two real routers on real HTTP servers sharing a real redis-server.
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { apiKeyStrategy, type McpSseError, type SessionContext } from '../../lib/index.js';
import { redisSessionBus, type RedisSessionBus } from '../../lib/redis/index.js';
import { buildServerV1, startHarness, waitFor, type Harness } from '../helpers/server.js';
import { isErrorEnvelope, openSse, postJson, postUrlOf, sessionIdOf, type RawStream } from '../helpers/sse.js';
import { startRedis, type RedisServer } from './helpers/redis.js';

let redis: RedisServer;
let admin: Redis;
const open: { close(): unknown }[] = [];

beforeAll(async () => {
  redis = await startRedis();
  admin = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  admin.on('error', () => {}); // it is down on purpose in some tests
});

afterAll(async () => {
  admin?.disconnect();
  await redis?.dispose();
});

afterEach(async () => {
  for (const thing of open.splice(0).reverse()) await thing.close();
  if (!redis.running) await redis.start();
});

interface Node {
  harness: Harness;
  bus: RedisSessionBus;
  errors: McpSseError[];
  /** sessionId → `n` of each `notifications/test/seq` its transport received, in order. */
  received: Map<string, number[]>;
}

/** A router with a Redis bus on its own HTTP server; closed after the test. */
async function startNode(
  prefix: string,
  name: string,
  extra: Parameters<typeof startHarness>[0] = {},
  busOptions: { durable?: boolean } = {},
): Promise<Node> {
  const bus = redisSessionBus({ url: redis.url, prefix, instanceId: name, directoryTtlMs: 2000, ...busOptions });
  const errors: McpSseError[] = [];
  const received = new Map<string, number[]>();
  const harness = await startHarness({
    bus,
    resumeWindowMs: 0,
    onError: (error) => errors.push(error),
    createServer: (session: SessionContext) => recording(session, received),
    ...extra,
  });
  open.push(harness);
  return { harness, bus, errors, received };
}

/** An SDK v1 server whose transport records the order of `notifications/test/seq` messages. */
function recording(session: SessionContext, received: Map<string, number[]>) {
  const server = buildServerV1(session);
  return {
    async connect(transport: { onmessage?: (message: { method?: string; params?: { n?: number } }, extra?: unknown) => void }) {
      await server.connect(transport as never);
      const inner = transport.onmessage;
      transport.onmessage = (message, extra) => {
        if (message.method === 'notifications/test/seq') {
          const list = received.get(session.sessionId!) ?? [];
          list.push(message.params!.n!);
          received.set(session.sessionId!, list);
        }
        inner?.(message, extra);
      };
    },
    close: () => server.close(),
  };
}

async function stream(node: Node, headers: Record<string, string> = {}): Promise<{ stream: RawStream; sessionId: string; path: string }> {
  const s = await openSse(node.harness.sseUrl, { headers });
  open.push({ close: () => s.destroy() });
  const url = new URL(postUrlOf(s, node.harness.baseUrl));
  return { stream: s, sessionId: sessionIdOf(s.endpoint!), path: `${url.pathname}${url.search}` };
}

const prefixed = () => `test-${randomUUID().slice(0, 8)}`;
const seq = (n: number) => ({ jsonrpc: '2.0', method: 'notifications/test/seq', params: { n } });

describe('redisSessionBus in one process', () => {
  it('keeps a directory entry with a TTL while the session lives, and deletes it when it closes', async () => {
    const prefix = prefixed();
    const a = await startNode(prefix, 'A');
    await waitFor(() => a.bus.stats().connected, 5000, 'bus connected');
    const { stream: s, sessionId } = await stream(a);
    const key = `${prefix}:session:${sessionId}`;
    await waitFor(() => a.bus.stats().sessions === 1);
    expect(JSON.parse((await admin.get(key))!)).toEqual({ i: 'A', e: 1 });
    const ttl = await admin.pttl(key);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(2000);
    // The refresh keeps it alive past its TTL.
    await new Promise((resolve) => setTimeout(resolve, 2500));
    expect(await admin.exists(key)).toBe(1);
    s.destroy();
    const start = Date.now();
    while ((await admin.exists(key)) === 1) {
      if (Date.now() - start > 3000) throw new Error('directory entry not deleted after the session closed');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  });

  it('answers 404 for unknown sessions, 403 for another principal before forwarding, 202 once the owner took it', async () => {
    const prefix = prefixed();
    const auth = { strategies: [apiKeyStrategy({ keys: { 'key-alice-0123456789': 'alice', 'key-bob-0123456789ab': 'bob' } })] };
    const a = await startNode(prefix, 'A', { auth });
    const b = await startNode(prefix, 'B', { auth });
    await waitFor(() => a.bus.stats().connected && b.bus.stats().connected, 5000, 'buses connected');
    const alice = { 'X-API-Key': 'key-alice-0123456789' };
    const { stream: s, sessionId, path } = await stream(a, alice);
    expect(JSON.parse((await admin.get(`${prefix}:session:${sessionId}`))!)).toEqual({ i: 'A', p: 'headerapikey:alice', e: 1 });

    const unknown = await postJson(
      `${b.harness.baseUrl}/mcp/messages?sessionId=${randomUUID()}`,
      { jsonrpc: '2.0', id: 7, method: 'ping' },
      { headers: alice },
    );
    expect(unknown.status).toBe(404);
    expect(unknown.json()).toMatchObject({ id: 7, error: { data: { reason: 'session_not_found' } } });

    const bob = await postJson(
      `${b.harness.baseUrl}${path}`,
      { jsonrpc: '2.0', id: 8, method: 'ping' },
      { headers: { 'X-API-Key': 'key-bob-0123456789ab' } },
    );
    expect(bob.status).toBe(403);
    expect(isErrorEnvelope(bob.json())).toBe(true);
    expect(bob.json()).toMatchObject({ id: 8, error: { data: { reason: 'forbidden_session' } } });
    expect(a.bus.stats().received).toBe(0); // refused before anything was published

    const ok = await postJson(`${b.harness.baseUrl}${path}`, { jsonrpc: '2.0', id: 9, method: 'ping' }, { headers: alice });
    expect(ok.status).toBe(202);
    const reply = await s.next((e) => e.event === 'message' && JSON.parse(e.data).id === 9);
    expect(JSON.parse(reply.data)).toEqual({ jsonrpc: '2.0', id: 9, result: {} });
    expect(a.bus.stats().received).toBe(1);
    expect(b.bus.stats().forwarded).toBe(1);
  });

  it('keeps POST order for a burst of 300 forwards issued at once', async () => {
    const prefix = prefixed();
    const a = await startNode(prefix, 'A');
    const b = await startNode(prefix, 'B');
    await waitFor(() => a.bus.stats().connected && b.bus.stats().connected, 5000, 'buses connected');
    const { sessionId } = await stream(a);
    // The first forward misses the owner cache and reads the directory; the rest must not overtake it.
    const results = await Promise.all(
      Array.from({ length: 300 }, (_, n) =>
        b.bus.forward(sessionId, {
          messages: [seq(n) as never],
          principalId: undefined,
          authInfo: undefined,
        }),
      ),
    );
    expect(new Set(results)).toEqual(new Set(['accepted']));
    expect(a.received.get(sessionId)).toEqual(Array.from({ length: 300 }, (_, n) => n));
  });

  it('broadcasts reach every other instance once and are not echoed back to the sender', async () => {
    const prefix = prefixed();
    const a = await startNode(prefix, 'A');
    const b = await startNode(prefix, 'B');
    await waitFor(() => a.bus.stats().connected && b.bus.stats().connected, 5000, 'buses connected');
    const onA = await stream(a);
    const onB = await stream(b);
    const isHello = (e: { event?: string; data: string }) => e.event === 'message' && JSON.parse(e.data).method === 'notifications/test/hello';
    expect(a.harness.router.sessions.broadcast({ method: 'notifications/test/hello', params: { from: 'A' } })).toBe(1);
    await onB.stream.next(isHello);
    await onA.stream.next(isHello);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(onA.stream.events.filter(isHello)).toHaveLength(1);
    expect(onB.stream.events.filter(isHello)).toHaveLength(1);
    expect(b.bus.stats().broadcastsReceived).toBe(1);
    expect(a.bus.stats().broadcastsReceived).toBe(0);
  });

  it('uses a given ioredis client for commands, duplicates it to subscribe, and leaves it open on close', async () => {
    const prefix = prefixed();
    const client = new Redis(redis.url, { enableOfflineQueue: false, maxRetriesPerRequest: 0 });
    open.push({ close: () => client.disconnect() });
    await waitFor(() => client.status === 'ready');
    const errors: McpSseError[] = [];
    const bus = redisSessionBus({ redis: client, prefix, instanceId: 'given', durable: false });
    const harness = await startHarness({ bus, resumeWindowMs: 0, onError: (e) => errors.push(e) });
    open.push(harness);
    await waitFor(() => bus.stats().connected, 5000, 'bus connected');
    const s = await openSse(harness.sseUrl);
    open.push({ close: () => s.destroy() });
    const sessionId = sessionIdOf(s.endpoint!);
    await waitFor(() => bus.stats().sessions === 1);
    expect(await admin.exists(`${prefix}:session:${sessionId}`)).toBe(1);
    const names = async () => ((await admin.client('LIST')) as string).split('\n').filter((line) => line.includes(`name=${prefix}:`));
    expect(await names()).toHaveLength(1); // the subscriber duplicate; commands run on the given client
    s.destroy();
    await harness.close();
    expect(client.status).toBe('ready');
    expect(await client.ping()).toBe('PONG');
    expect(await admin.keys(`${prefix}:*`)).toEqual([]);
    const start = Date.now();
    while ((await names()).length > 0 && Date.now() - start < 2000) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(await names()).toEqual([]);
    expect(errors).toEqual([]);
  });

  it('close() removes its directory entries and quits the connections it opened (durable: false)', async () => {
    const prefix = prefixed();
    // Durable sessions are released on close, not forgotten: redis-durable.test.ts covers that.
    const a = await startNode(prefix, 'A', {}, { durable: false });
    await waitFor(() => a.bus.stats().connected, 5000, 'bus connected');
    await stream(a);
    await stream(a);
    await waitFor(() => a.bus.stats().sessions === 2);
    expect(await admin.keys(`${prefix}:*`)).toHaveLength(2);
    await a.harness.close();
    expect(await admin.keys(`${prefix}:*`)).toEqual([]);
    const start = Date.now();
    const named = async () => ((await admin.client('LIST')) as string).split('\n').filter((line) => line.includes(`name=${prefix}:`));
    while ((await named()).length > 0 && Date.now() - start < 2000) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(await named()).toEqual([]);
    expect(a.errors).toEqual([]);
  });

  it('starts while Redis is down: reports it, answers 503 for forwards, keeps local sessions working, recovers', async () => {
    const prefix = prefixed();
    await redis.stop();
    const a = await startNode(prefix, 'A');
    const b = await startNode(prefix, 'B');
    await waitFor(() => a.errors.length > 0 && b.errors.length > 0, 5000, 'errors reported');
    expect(a.errors[0]!.code).toBe('ERR_MCP_SSE_BUS');
    expect(a.errors[0]!.message).toMatch(/Redis at 127\.0\.0\.1:\d+/);
    expect(a.errors[0]!.message).toMatch(/503/);

    // A session of A works on A's own POSTs.
    const client = new Client({ name: 'local', version: '1.0.0' });
    await client.connect(new SSEClientTransport(new URL(a.harness.sseUrl)));
    open.push(client);
    const text = (r: unknown) => (r as { content: { text: string }[] }).content[0]!.text;
    expect(text(await client.callTool({ name: 'add', arguments: { a: 1, b: 2 } }))).toBe('3');

    // B cannot reach it: 503 with an envelope and Retry-After.
    const sessionId = [...a.harness.router.sessions][0]!.sessionId;
    const refused = await postJson(`${b.harness.baseUrl}/mcp/messages?sessionId=${sessionId}`, { jsonrpc: '2.0', id: 'probe', method: 'ping' });
    expect(refused.status).toBe(503);
    expect(refused.headers['retry-after']).toBe('1');
    expect(refused.json()).toMatchObject({ jsonrpc: '2.0', id: 'probe', error: { data: { reason: 'bus_unavailable' } } });
    const reportsBefore = a.errors.length;

    await redis.start();
    await waitFor(() => a.bus.stats().connected && b.bus.stats().connected, 10_000, 'buses reconnected');
    const start = Date.now();
    let status = 0;
    while (status !== 202) {
      if (Date.now() - start > 5000) throw new Error(`forwarding did not recover; last status ${status}`);
      status = (await postJson(`${b.harness.baseUrl}/mcp/messages?sessionId=${sessionId}`, seq(1))).status;
      expect([202, 503]).toContain(status);
      if (status !== 202) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(a.received.get(sessionId)).toEqual([1]);
    expect(text(await client.callTool({ name: 'add', arguments: { a: 2, b: 2 } }))).toBe('4');
    // One report per outage and connection, not one per retry.
    expect(a.errors.length).toBe(reportsBefore);
    expect(a.errors.length).toBeLessThanOrEqual(2);
  });
});
