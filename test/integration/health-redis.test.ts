// router.health with a real Redis bus: 503 bus_unavailable while redis-server is down, 200 again once it is back.
import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { redisSessionBus } from '../../lib/redis/index.js';
import { startHarness, waitFor, type Harness } from '../helpers/server.js';
import { startRedis, type RedisServer } from './helpers/redis.js';

let redis: RedisServer;
let harness: Harness | undefined;

beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await harness?.close();
  await redis?.dispose();
});

it('follows the bus connection, and says draining once close() started', async () => {
  const bus = redisSessionBus({ url: redis.url, prefix: `health-${randomUUID().slice(0, 8)}` });
  harness = await startHarness({ bus, onError: () => {} });
  harness.app.get('/ready', harness.router.health);
  await waitFor(() => bus.stats().connected, 5000, 'the bus to connect');
  const up = await request(harness.baseUrl).get('/ready');
  expect(up.status).toBe(200);
  expect(up.body).toMatchObject({ status: 'ok', bus: { connected: true } });

  await redis.stop();
  await waitFor(() => !bus.stats().connected, 5000, 'the bus to see Redis gone');
  const down = await request(harness.baseUrl).get('/ready');
  expect(down.status).toBe(503);
  expect(down.body).toMatchObject({ status: 'bus_unavailable', bus: { connected: false } });

  await redis.start();
  await waitFor(() => bus.stats().connected, 15_000, 'the bus to reconnect');
  expect((await request(harness.baseUrl).get('/ready')).status).toBe(200);

  const closing = harness.router.close({ timeoutMs: 2000 });
  expect((await request(harness.baseUrl).get('/ready')).body.status).toBe('draining');
  await closing;
});
