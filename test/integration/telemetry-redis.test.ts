// OpenTelemetry across instances: a request relayed through a real Redis from the instance that received it to the
// session's owner is traced once, by the owner, in the client's trace (the relay carries the client's headers).
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type RedisSessionBus, redisSessionBus } from '../../lib/redis/index.js';
import { startHarness, waitFor, type Harness } from '../helpers/server.js';
import { callTool, initializeRequest, initializedNotification, latestVersion, mcpReply } from '../helpers/streamable.js';
import { type Otel, registerOtel } from '../telemetry/otel.js';
import { startRedis, type RedisServer } from './helpers/redis.js';

let redis: RedisServer;
let otel: Otel;
const harnesses: Harness[] = [];
/** Closed before Redis goes: a drained router keeps a durable bus open a little longer, to hand requests on. */
const all: RedisSessionBus[] = [];

beforeAll(async () => {
  otel = registerOtel();
  redis = await startRedis();
});
afterAll(async () => {
  for (const harness of harnesses) await harness.close();
  for (const bus of all) await bus.close();
  await redis?.dispose();
  await otel.shutdown();
});

it('a request relayed to the owner lands in the trace of the traceparent header the client sent elsewhere', async () => {
  const prefix = `otel-${randomUUID().slice(0, 8)}`;
  const buses = ['A', 'B'].map((name) => redisSessionBus({ url: redis.url, prefix, instanceId: name }));
  for (const bus of buses) harnesses.push(await startHarness({ bus }));
  all.push(...buses);
  await waitFor(() => buses.every((bus) => bus.stats().connected), 5000, 'buses connected');
  const [a, b] = harnesses as [Harness, Harness];

  const init = await mcpReply(a.mcpUrl, { body: initializeRequest() });
  const sessionId = init.headers['mcp-session-id']!;
  await mcpReply(a.mcpUrl, { body: initializedNotification, sessionId, protocolVersion: latestVersion });

  const traceId = randomUUID().replaceAll('-', '');
  const parentId = '00f067aa0ba902b7';
  const relayed = await mcpReply(b.mcpUrl, {
    body: callTool(7, 'echo', { text: 'over there' }),
    sessionId,
    protocolVersion: latestVersion,
    headers: { traceparent: `00-${traceId}-${parentId}-01` },
  });
  expect(relayed.status).toBe(200);
  expect(buses[1]!.stats().forwarded).toBe(1);
  const calls = otel.serverSpans().filter((span) => span.name === 'tools/call echo');
  expect(calls).toHaveLength(1);
  expect(calls[0]!.attributes).toMatchObject({ 'mcp.session.id': sessionId, 'jsonrpc.request.id': '7', 'gen_ai.tool.name': 'echo' });
  expect(calls[0]!.parentSpanContext).toMatchObject({ traceId, spanId: parentId });
  // The relaying instance records the hop to the owner, in the same trace.
  const relays = otel.serverSpans().filter((span) => span.name === 'mcp.session.relay');
  expect(relays.length).toBeGreaterThanOrEqual(1);
  expect(relays.at(-1)!.attributes['mcp.session.id']).toBe(sessionId);
  expect(relays.at(-1)!.parentSpanContext).toMatchObject({ traceId, spanId: parentId });
  expect(relays.at(-1)!.attributes['error.type']).toBeUndefined();
});

it('a durable session adopted after its owner went away is traced: mcp.session.adopt in the client trace, then the call', async () => {
  const prefix = `otel-${randomUUID().slice(0, 8)}`;
  const buses = ['A', 'B'].map((name) => redisSessionBus({ url: redis.url, prefix, instanceId: name }));
  all.push(...buses);
  const [a, b] = [await startHarness({ bus: buses[0] }), await startHarness({ bus: buses[1] })];
  harnesses.push(a, b);
  await waitFor(() => buses.every((bus) => bus.stats().connected), 5000, 'buses connected');
  const init = await mcpReply(a.mcpUrl, { body: initializeRequest() });
  const sessionId = init.headers['mcp-session-id']!;
  await mcpReply(a.mcpUrl, { body: initializedNotification, sessionId, protocolVersion: latestVersion });
  // The owner's bus goes away (as with a crash, its sessions are not released): B adopts on the next request, once
  // Redis no longer counts the owner's subscriber (it frees a closed connection a moment after its QUIT).
  await buses[0]!.close();
  const admin = new Redis(redis.url);
  const listening = async () => Number(((await admin.call('PUBSUB', 'NUMSUB', `${prefix}:instance:A`)) as (string | number)[])[1]);
  for (let start = Date.now(); (await listening()) > 0; ) if (Date.now() - start > 5000) throw new Error('A still subscribed');
  admin.disconnect();

  const traceId = randomUUID().replaceAll('-', '');
  const parentId = '00f067aa0ba902b8';
  const adopted = await mcpReply(b.mcpUrl, {
    body: callTool(8, 'echo', { text: 'adopted' }),
    sessionId,
    protocolVersion: latestVersion,
    headers: { traceparent: `00-${traceId}-${parentId}-01` },
  });
  expect(adopted.status).toBe(200);
  expect(b.router.sessions.get(sessionId)?.adopted).toBe(true);
  const inTrace = otel.serverSpans().filter((span) => span.spanContext().traceId === traceId);
  const adopt = inTrace.find((span) => span.name === 'mcp.session.adopt');
  expect(adopt?.attributes).toMatchObject({ 'mcp.session.id': sessionId });
  expect(adopt?.attributes['error.type']).toBeUndefined();
  expect(adopt?.parentSpanContext).toMatchObject({ traceId, spanId: parentId });
  // The relay to the old owner came first and failed; the call itself ran here, after the adoption.
  const relay = inTrace.find((span) => span.name === 'mcp.session.relay');
  expect(relay?.attributes['error.type']).toBeDefined();
  const call = inTrace.find((span) => span.name === 'tools/call echo');
  expect(call?.attributes).toMatchObject({ 'mcp.session.id': sessionId, 'jsonrpc.request.id': '8' });
  expect(call!.startTime[0] * 1e9 + call!.startTime[1]).toBeGreaterThanOrEqual(adopt!.endTime[0] * 1e9 + adopt!.endTime[1]);
});
