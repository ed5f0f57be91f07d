// Streamable HTTP sessions across instances: two real routers sharing a real redis-server, a real SDK client whose
// requests alternate between them (a round-robin balancer without stickiness).
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CreateMessageRequestSchema, ResourceListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { apiKeyStrategy, type McpSseError } from '../../lib/index.js';
import { redisSessionBus, type RedisSessionBus } from '../../lib/redis/index.js';
import { killableFetch } from '../helpers/sse.js';
import { startHarness, waitFor, type Harness, type HarnessOptions } from '../helpers/server.js';
import { startRedis, type RedisServer } from './helpers/redis.js';

let redis: RedisServer;
const open: { close(): unknown }[] = [];

beforeAll(async () => {
  redis = await startRedis();
});

afterAll(async () => {
  await redis?.dispose();
});

afterEach(async () => {
  for (const thing of open.splice(0).reverse()) await thing.close();
});

interface Node {
  harness: Harness;
  bus: RedisSessionBus;
  errors: McpSseError[];
}

async function startNode(prefix: string, name: string, extra: HarnessOptions = {}): Promise<Node> {
  const bus = redisSessionBus({ url: redis.url, prefix, instanceId: name, directoryTtlMs: 2000 });
  const errors: McpSseError[] = [];
  const harness = await startHarness({ bus, onError: (error) => errors.push(error), ...extra });
  open.push(harness);
  return { harness, bus, errors };
}

async function startPair(extra: HarnessOptions = {}): Promise<[Node, Node]> {
  const prefix = `test-${randomUUID().slice(0, 8)}`;
  const nodes: [Node, Node] = [await startNode(prefix, 'A', extra), await startNode(prefix, 'B', extra)];
  await waitFor(() => nodes.every((node) => node.bus.stats().connected), 5000, 'buses connected');
  return nodes;
}

/** A fetch that sends each request to the next instance in turn, as a round-robin balancer does. */
function roundRobin(nodes: Node[], base: typeof fetch = fetch): { fetch: typeof fetch; hits: string[] } {
  let next = 0;
  const hits: string[] = [];
  const first = new URL(nodes[0]!.harness.baseUrl);
  return {
    hits,
    fetch: ((input: string | URL | Request, init?: RequestInit) => {
      const node = nodes[next++ % nodes.length]!;
      const url = new URL(String(input instanceof Request ? input.url : input));
      if (url.host === first.host) url.host = new URL(node.harness.baseUrl).host;
      hits.push(`${init?.method ?? 'GET'} ${url.port === first.port ? 'A' : 'B'}`);
      return base(url, init);
    }) as typeof fetch,
  };
}

async function connect(
  url: string,
  fetchImpl: typeof fetch,
  headers: Record<string, string> = {},
): Promise<{ client: Client; transport: StreamableHTTPClientTransport }> {
  const client = new Client({ name: 'rr-client', version: '1.0.0' }, { capabilities: { sampling: {} } });
  client.setRequestHandler(CreateMessageRequestSchema, async () => ({ role: 'assistant', model: 'm', content: { type: 'text', text: 'sampled' } }));
  const transport = new StreamableHTTPClientTransport(new URL(url), {
    fetch: fetchImpl,
    requestInit: { headers },
    reconnectionOptions: { initialReconnectionDelay: 20, maxReconnectionDelay: 100, reconnectionDelayGrowFactor: 1.5, maxRetries: 10 },
  });
  await client.connect(transport);
  open.push(client);
  return { client, transport };
}

const textOf = (result: unknown): string => (result as { content: { text: string }[] }).content[0]!.text;

describe('Streamable HTTP over the Redis bus', () => {
  it('serves every request of a session from either instance: tools, progress, sampling, the standalone stream, DELETE', async () => {
    const [a, b] = await startPair();
    const rr = roundRobin([a, b]);
    const { client, transport } = await connect(`${a.harness.baseUrl}/mcp`, rr.fetch);
    const owner = a.harness.router.sessions.get(transport.sessionId!) ? a : b;
    const other = owner === a ? b : a;
    expect(other.harness.router.sessions.size).toBe(0);

    for (let i = 0; i < 6; i++) expect(textOf(await client.callTool({ name: 'add', arguments: { a: i, b: 1 } }))).toBe(String(i + 1));
    const progress: number[] = [];
    expect(
      textOf(await client.callTool({ name: 'countdown', arguments: { from: 4 } }, undefined, { onprogress: (p) => progress.push(p.progress) })),
    ).toBe('done');
    expect(progress).toEqual([1, 2, 3, 4]);
    expect(textOf(await client.callTool({ name: 'sample', arguments: { prompt: 'x' } }))).toBe('sampled');
    expect(rr.hits.filter((hit) => hit.endsWith('B')).length).toBeGreaterThan(3);
    expect(other.bus.stats().forwarded).toBeGreaterThan(0);

    let changed = 0;
    client.setNotificationHandler(ResourceListChangedNotificationSchema, () => void changed++);
    await waitFor(
      () => [...owner.harness.router.sessions].some((s) => s.transport === 'streamable-http' && s.hasStandaloneStream),
      5000,
      'the standalone stream',
    );
    // Published on the instance that does not hold the session: reaches it once through the bus.
    other.harness.router.sessions.broadcast({ method: 'notifications/resources/list_changed' });
    await waitFor(() => changed === 1, 5000, 'the broadcast');

    await transport.terminateSession();
    await waitFor(() => owner.harness.router.sessions.size === 0, 5000, 'the session to close on its owner');
    expect([a, b].flatMap((node) => node.errors)).toEqual([]);
    await waitFor(() => a.bus.stats().relaysOpen === 0 && b.bus.stats().relaysOpen === 0, 5000, 'relays to end');
  });

  it('resumes a cut stream through the other instance, losing nothing', async () => {
    const [a, b] = await startPair({ retryMs: 50 });
    const killable = killableFetch();
    const rr = roundRobin([a, b], killable.fetch);
    const { client } = await connect(`${a.harness.baseUrl}/mcp`, rr.fetch);
    const progress: number[] = [];
    const call = client.callTool({ name: 'countdown', arguments: { from: 15 } }, undefined, { onprogress: (p) => progress.push(p.progress) });
    await waitFor(() => progress.length >= 3, 5000, 'some progress');
    expect(killable.cut()).toBeGreaterThan(0);
    expect(textOf(await call)).toBe('done');
    expect(progress).toEqual(Array.from({ length: 15 }, (_, i) => i + 1));
    expect(killable.requests.some((headers) => headers['last-event-id'] !== undefined)).toBe(true);
  });

  it("refuses another principal's session and unknown sessions from the instance that does not hold them", async () => {
    const auth = { strategies: [apiKeyStrategy({ keys: { 'key-alice-0123456789': 'alice', 'key-bob-0123456789ab': 'bob' } })] };
    const [a, b] = await startPair({ auth });
    const { transport } = await connect(`${a.harness.baseUrl}/mcp`, fetch, { 'X-API-Key': 'key-alice-0123456789' });
    const post = (node: Node, key: string, sessionId: string) =>
      fetch(`${node.harness.baseUrl}/mcp`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream', 'Mcp-Session-Id': sessionId, 'X-API-Key': key },
        body: JSON.stringify({ jsonrpc: '2.0', id: 5, method: 'tools/list' }),
      });
    const bob = await post(b, 'key-bob-0123456789ab', transport.sessionId!);
    expect(bob.status).toBe(403);
    expect(await bob.json()).toMatchObject({ id: 5, error: { data: { reason: 'forbidden_session' } } });
    const unknown = await post(b, 'key-alice-0123456789', randomUUID());
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ id: 5, error: { code: -32001 } });
    const alice = await post(b, 'key-alice-0123456789', transport.sessionId!);
    expect(alice.status).toBe(200);
    expect(alice.headers.get('content-type')).toBe('text/event-stream');
    expect(await alice.text()).toContain('"tools"');
  });

  it('keeps the transports apart across instances: a Streamable session id is unknown on POST /messages elsewhere', async () => {
    const [a, b] = await startPair();
    const { transport } = await connect(`${a.harness.baseUrl}/mcp`, fetch);
    const response = await fetch(`${b.harness.baseUrl}/mcp/messages?sessionId=${transport.sessionId!}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'tools/list' }),
    });
    expect(response.status).toBe(404);
    expect(await response.json()).toMatchObject({ id: 9, error: { data: { reason: 'session_not_found' } } });
    expect(a.bus.stats().received).toBe(0);
  });

  it('ends relayed streams when the owner goes away, so clients do not hang', async () => {
    const [a, b] = await startPair();
    const init = await fetch(`${a.harness.baseUrl}/mcp`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
      }),
    });
    const sessionId = init.headers.get('mcp-session-id')!;
    await init.text();
    // A standalone stream held by B for A's session.
    const response = await fetch(`${b.harness.baseUrl}/mcp`, {
      headers: { Accept: 'text/event-stream', 'Mcp-Session-Id': sessionId, 'MCP-Protocol-Version': '2025-11-25' },
    });
    expect(response.status).toBe(200);
    const reader = response.body!.getReader();
    await reader.read(); // the priming event
    await waitFor(() => b.bus.stats().relaysOpen === 1, 5000, 'the relay');
    await a.harness.close();
    const ended = async () => {
      for (;;) if ((await reader.read()).done) return true;
    };
    expect(await ended()).toBe(true);
    await waitFor(() => b.bus.stats().relaysOpen === 0, 5000, 'the relay to be forgotten');
  });
});

describe('2026-07-28 listen streams over the Redis bus', () => {
  it('a broadcast on one instance reaches a subscriptions/listen stream held by another', async () => {
    const { buildServerV2 } = await import('../helpers/server.js');
    const { Client: ClientV2, StreamableHTTPClientTransport: StreamableV2 } = await import('@modelcontextprotocol/client');
    const [a, b] = await startPair({ createServer: (session) => buildServerV2(session) });
    const client = new ClientV2({ name: 'listener', version: '2.0.0' }, { versionNegotiation: { mode: { pin: '2026-07-28' } } } as never);
    await client.connect(new StreamableV2(new URL(`${b.harness.baseUrl}/mcp`)));
    open.push(client);
    let changed = 0;
    client.setNotificationHandler('notifications/tools/list_changed', () => void changed++);
    const subscription = await (client as unknown as { listen(filter: object): Promise<{ close(): Promise<void> }> }).listen({
      toolsListChanged: true,
    });
    await waitFor(() => b.harness.router.sessions.stats().listening === 1, 5000, 'the listen stream on B');
    a.harness.router.sessions.broadcast({ method: 'notifications/tools/list_changed' });
    await waitFor(() => changed === 1, 5000, 'the broadcast from A');
    await new Promise((resolve) => setTimeout(resolve, 200)); // room for a duplicate to show up
    expect(changed).toBe(1);
    await subscription.close();
  });
});
