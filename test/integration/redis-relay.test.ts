// Relayed Streamable HTTP requests at their edges (issue 17 item 2): a client leaving during the round trip, an
// acknowledgement that comes too late, a front instance that dies, and a relaying instance that shuts down. Real
// routers, a real redis-server, real child processes; messages are held at a gate on PUBLISH, never by sleeping.
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import type { McpSseError } from '../../lib/index.js';
import { redisSessionBus, type RedisSessionBus } from '../../lib/redis/index.js';
import type { StreamableHTTPTransport } from '../../lib/transports/streamable-http/transport.js';
import { startHarness, waitFor, type Harness, type HarnessOptions } from '../helpers/server.js';
import { startInstance, startRedis, type Instance, type RedisServer } from './helpers/redis.js';

let redis: RedisServer;
let admin: Redis;
const open: { close(): unknown }[] = [];

beforeAll(async () => {
  redis = await startRedis();
  admin = new Redis(redis.url, { maxRetriesPerRequest: 1 });
});

afterAll(async () => {
  admin?.disconnect();
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

/** Holds the messages a bus publishes on one instance's channel while `holding`, in order, until `release()`. */
interface Gate {
  holding: boolean;
  readonly held: number;
  release(): void;
}

/** An ioredis client whose PUBLISHes to `channel` wait at a gate while it is closed. */
function gatedClient(channel: () => string): { client: Redis; gate: Gate } {
  const client = new Redis(redis.url, { enableOfflineQueue: false, maxRetriesPerRequest: 0 });
  const waiting: (() => void)[] = [];
  const publish = client.publish.bind(client) as (channel: string, message: string) => Promise<number>;
  const gate: Gate = {
    holding: false,
    get held() {
      return waiting.length;
    },
    release() {
      gate.holding = false;
      for (const go of waiting.splice(0)) go();
    },
  };
  (client as unknown as { publish: typeof publish }).publish = (to, message) => {
    if (!gate.holding || to !== channel()) return publish(to, message);
    return new Promise<number>((resolve, reject) => waiting.push(() => publish(to, message).then(resolve, reject)));
  };
  open.push({ close: () => client.disconnect() });
  return { client, gate };
}

async function startNode(
  prefix: string,
  name: string,
  extra: HarnessOptions = {},
  bus = redisSessionBus({ url: redis.url, prefix, instanceId: name }),
): Promise<Node> {
  const errors: McpSseError[] = [];
  const harness = await startHarness({ bus, onError: (error) => errors.push(error), ...extra });
  open.push(harness);
  await waitFor(() => bus.stats().connected, 5000, `bus ${name} connected`);
  return { harness, bus, errors };
}

const channelOf = (prefix: string, instance: string) => `${prefix}:instance:${instance}`;

async function initialize(baseUrl: string, protocolVersion = '2025-11-25'): Promise<string> {
  const response = await fetch(`${baseUrl}/mcp`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion, capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
    }),
  });
  expect(response.status).toBe(200);
  await response.text();
  const sessionId = response.headers.get('mcp-session-id')!;
  const initialized = await fetch(`${baseUrl}/mcp`, {
    method: 'POST',
    headers: { ...sessionHeaders(sessionId, protocolVersion), 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' },
    body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }),
  });
  expect(initialized.status).toBe(202);
  return sessionId;
}

const sessionHeaders = (sessionId: string, protocolVersion = '2025-11-25') => ({
  'Mcp-Session-Id': sessionId,
  'MCP-Protocol-Version': protocolVersion,
});

const getStandalone = (baseUrl: string, sessionId: string, signal?: AbortSignal, protocolVersion?: string) =>
  fetch(`${baseUrl}/mcp`, { headers: { ...sessionHeaders(sessionId, protocolVersion), Accept: 'text/event-stream' }, signal });

const callTool = (baseUrl: string, sessionId: string, name: string, args: Record<string, unknown> = {}) =>
  fetch(`${baseUrl}/mcp`, {
    method: 'POST',
    headers: { ...sessionHeaders(sessionId), 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name, arguments: args } }),
  });

function streamableSession(node: Node, sessionId: string): StreamableHTTPTransport {
  const session = node.harness.router.sessions.get(sessionId);
  if (session?.transport !== 'streamable-http') throw new Error(`no Streamable HTTP session ${sessionId}`);
  return session;
}

/** The owner's standalone slot is free again: a GET on the owner itself gets its stream (not 409). */
async function expectStandaloneFree(owner: Node, sessionId: string): Promise<void> {
  const session = streamableSession(owner, sessionId);
  await waitFor(() => !session.hasStandaloneStream && owner.bus.stats().relaysOpen === 0, 3000, 'the phantom stream to go');
  const controller = new AbortController();
  const again = await getStandalone(owner.harness.baseUrl, sessionId, controller.signal);
  expect(again.status).toBe(200);
  controller.abort();
}

describe('relayed requests at their edges', () => {
  it('cancels on the owner a relay whose client left during the round trip (no phantom stream, no later 409)', async () => {
    const prefix = `relay-${randomUUID().slice(0, 8)}`;
    const a = await startNode(prefix, 'A');
    const { client, gate } = gatedClient(() => channelOf(prefix, 'A'));
    const b = await startNode(prefix, 'B', {}, redisSessionBus({ redis: client, prefix, instanceId: 'B' }));
    const sessionId = await initialize(a.harness.baseUrl);

    // B's relay of the GET waits at the gate; meanwhile the client gives up.
    gate.holding = true;
    const closed: string[] = [];
    b.harness.server.on('request', (_req, res) => res.once('close', () => closed.push('B')));
    const controller = new AbortController();
    const get = getStandalone(b.harness.baseUrl, sessionId, controller.signal).catch((error: Error) => error);
    await waitFor(() => gate.held === 1, 3000, 'the relay to reach the gate');
    controller.abort();
    expect(await get).toBeInstanceOf(Error);
    await waitFor(() => closed.length === 1, 3000, 'B to see its client leave');
    gate.release();

    await waitFor(() => a.bus.stats().received === 1, 3000, 'the owner to take the relay');
    await expectStandaloneFree(a, sessionId);
    await waitFor(() => b.bus.stats().relaysOpen === 0, 3000, 'B to forget the relay');
    expect([...a.errors, ...b.errors]).toEqual([]);
  });

  it('cancels on the owner a relay whose acknowledgement came too late (the client got 503)', async () => {
    const prefix = `relay-${randomUUID().slice(0, 8)}`;
    const { client, gate } = gatedClient(() => channelOf(prefix, 'B'));
    const a = await startNode(prefix, 'A', {}, redisSessionBus({ redis: client, prefix, instanceId: 'A' }));
    const b = await startNode(prefix, 'B', {}, redisSessionBus({ url: redis.url, prefix, instanceId: 'B', forwardTimeoutMs: 300 }));
    const sessionId = await initialize(a.harness.baseUrl);

    // The owner serves the GET, but its answers to B (acknowledgement included) wait at the gate.
    gate.holding = true;
    const response = await getStandalone(b.harness.baseUrl, sessionId);
    expect(response.status).toBe(503);
    expect(await response.json()).toMatchObject({ error: { data: { reason: 'bus_unavailable' } } });
    expect(a.bus.stats().received).toBe(1);
    await expectStandaloneFree(a, sessionId);
    gate.release();
    await waitFor(() => b.bus.stats().relaysOpen === 0, 3000, 'B to forget the relay');
  });

  it('stops serving a relay once its answers reach no one (the front instance died)', async () => {
    const prefix = `relay-${randomUUID().slice(0, 8)}`;
    const a = await startNode(prefix, 'A');
    const front: Instance = await startInstance({ redisUrl: redis.url, name: 'front', prefix });
    open.push({ close: () => front.kill() });
    const sessionId = await initialize(a.harness.baseUrl);
    const session = streamableSession(a, sessionId);

    const response = await getStandalone(front.baseUrl, sessionId);
    expect(response.status).toBe(200);
    const reader = response.body!.getReader();
    await reader.read(); // the priming event
    expect(session.hasStandaloneStream).toBe(true);
    await front.kill();
    await reader.cancel().catch(() => {});
    // Redis has seen the front instance's subscriber go: the next piece of the answer reaches nobody.
    const listeners = async () => Number(((await admin.call('PUBSUB', 'NUMSUB', channelOf(prefix, 'front'))) as (string | number)[])[1]);
    for (let start = Date.now(); (await listeners()) > 0; ) if (Date.now() - start > 3000) throw new Error('front still subscribed');
    a.harness.router.sessions.broadcast({ method: 'notifications/resources/list_changed' });
    await expectStandaloneFree(a, sessionId);
  });

  it('answers 503 shutting_down, never a bare 200, when the relaying instance closes before the head', async () => {
    const prefix = `relay-${randomUUID().slice(0, 8)}`;
    const a = await startNode(prefix, 'A', { jsonResponse: true });
    const b = await startNode(prefix, 'B', { jsonResponse: true });
    const sessionId = await initialize(a.harness.baseUrl);
    // `sample` waits for the client's sampling answer, which never comes; a JSON answer has no head until then.
    const call = callTool(b.harness.baseUrl, sessionId, 'sample', { prompt: 'x' });
    await waitFor(() => a.bus.stats().received === 1 && b.bus.stats().forwarded === 1, 3000, 'the owner to take the call');
    await b.bus.close();
    const response = await call;
    expect(response.status).toBe(503);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    expect(response.headers.get('retry-after')).not.toBeNull();
    expect(await response.json()).toMatchObject({ id: 7, error: { data: { reason: 'shutting_down' } } });
    // The owner was told: it stops serving the relay.
    await waitFor(() => a.bus.stats().relaysOpen === 0, 3000, 'the owner to drop the relay');
  });

  it('ends a relayed stream that was already streaming when the relaying instance closes (the client resumes)', async () => {
    const prefix = `relay-${randomUUID().slice(0, 8)}`;
    const a = await startNode(prefix, 'A');
    const b = await startNode(prefix, 'B');
    const sessionId = await initialize(a.harness.baseUrl);
    const response = await callTool(b.harness.baseUrl, sessionId, 'sample', { prompt: 'x' });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/event-stream');
    const reader = response.body!.getReader();
    await b.bus.close();
    let text = '';
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) text += Buffer.from(chunk.value).toString();
    expect(text).toContain('sampling/createMessage');
    expect(text).toMatch(/^id: /m);
  });

  it('a drain waits for the answers it relays, and ends the streams it relays with a retry hint', async () => {
    const prefix = `relay-${randomUUID().slice(0, 8)}`;
    const a = await startNode(prefix, 'A');
    const b = await startNode(prefix, 'B');
    const sessionId = await initialize(a.harness.baseUrl);
    const standalone = await getStandalone(b.harness.baseUrl, sessionId);
    expect(standalone.status).toBe(200);
    const call = await callTool(b.harness.baseUrl, sessionId, 'sample', { prompt: 'late' });
    expect(call.status).toBe(200);
    const answer = call.body!.getReader();
    let text = '';
    while (!text.includes('sampling/createMessage')) text += Buffer.from((await answer.read()).value!).toString();
    const asked = JSON.parse(/data: (\{.*"sampling\/createMessage".*\})/.exec(text)![1]!) as { id: number };
    let closed = false;
    const closing = b.harness.router.close({ timeoutMs: 10_000 }).then(() => (closed = true));
    // The relayed standalone stream ends at once, with a hint to reconnect soon (to an instance that stays).
    const ended = await standalone.text();
    expect(ended).toMatch(/^retry: \d+$/m);
    expect(closed).toBe(false);
    // The tool gets its sampling answer (on the owner), and its result still reaches the client through B.
    const reply = await fetch(`${a.harness.baseUrl}/mcp`, {
      method: 'POST',
      headers: { ...sessionHeaders(sessionId), 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: asked.id, result: { role: 'assistant', model: 'm', content: { type: 'text', text: 'answered' } } }),
    });
    expect(reply.status).toBe(202);
    for (let chunk = await answer.read(); !chunk.done; chunk = await answer.read()) text += Buffer.from(chunk.value).toString();
    expect(text).toContain('"text":"answered"');
    await closing;
    expect(b.errors).toEqual([]);
  });

  it('answers 503 bus_unavailable when the owner dies before the head of a relayed answer', async () => {
    const prefix = `relay-${randomUUID().slice(0, 8)}`;
    const owner = await startInstance({ redisUrl: redis.url, name: 'owner', prefix, jsonResponse: true });
    open.push({ close: () => owner.kill() });
    // Both instances answer JSON, as a deployment's instances share their options: a durable front then knows the
    // tool may have run and does not route the lost request again.
    const b = await startNode(prefix, 'B', { jsonResponse: true }, redisSessionBus({ url: redis.url, prefix, instanceId: 'B', directoryTtlMs: 600 }));
    const sessionId = await initialize(owner.baseUrl);
    // `roots` waits for the client's roots/list answer, which never comes; a JSON answer has no head until then.
    const call = callTool(b.harness.baseUrl, sessionId, 'roots');
    await waitFor(() => b.bus.stats().forwarded === 1, 10_000, 'the owner to take the call');
    await owner.kill();
    const response = await call;
    expect(response.status).toBe(503);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await response.json()).toMatchObject({ id: 7, error: { data: { reason: 'bus_unavailable' } } });
    await waitFor(() => b.bus.stats().relaysOpen === 0, 3000, 'B to forget the relay');
  });

  it('relays a standalone GET at a protocol without priming (its head is flushed through the relay)', async () => {
    const prefix = `relay-${randomUUID().slice(0, 8)}`;
    // No keep-alive: nothing but the head itself can end the wait for it.
    const a = await startNode(prefix, 'A', { keepAliveMs: 0 });
    const b = await startNode(prefix, 'B', { keepAliveMs: 0 });
    const sessionId = await initialize(a.harness.baseUrl, '2025-06-18');
    const controller = new AbortController();
    const response = await getStandalone(b.harness.baseUrl, sessionId, AbortSignal.any([controller.signal, AbortSignal.timeout(3000)]), '2025-06-18');
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/event-stream');
    expect(streamableSession(a, sessionId).hasStandaloneStream).toBe(true);
    controller.abort();
    await expectStandaloneFree(a, sessionId);
    expect([...a.errors, ...b.errors]).toEqual([]);
  });
});
