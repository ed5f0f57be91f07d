// OpenTelemetry across instances: a request relayed through a real Redis from the instance that received it to the
// session's owner is traced once, by the owner, in the client's trace (the relay carries the client's headers).
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { redisSessionBus } from '../../lib/redis/index.js';
import { startHarness, waitFor, type Harness } from '../helpers/server.js';
import { callTool, initializeRequest, initializedNotification, latestVersion, mcpReply } from '../helpers/streamable.js';
import { type Otel, registerOtel } from '../telemetry/otel.js';
import { startRedis, type RedisServer } from './helpers/redis.js';

let redis: RedisServer;
let otel: Otel;
const harnesses: Harness[] = [];

beforeAll(async () => {
  otel = registerOtel();
  redis = await startRedis();
});
afterAll(async () => {
  for (const harness of harnesses) await harness.close();
  await redis?.dispose();
  await otel.shutdown();
});

it('a request relayed to the owner lands in the trace of the traceparent header the client sent elsewhere', async () => {
  const prefix = `otel-${randomUUID().slice(0, 8)}`;
  const buses = ['A', 'B'].map((name) => redisSessionBus({ url: redis.url, prefix, instanceId: name }));
  for (const bus of buses) harnesses.push(await startHarness({ bus }));
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
