// router.health: 200 with the session counts for a readiness probe, 503 while draining or with the bus down.
import express from 'express';
import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { createMcpSseRouter, InMemorySessionBus, type McpSseRouter } from '../../lib/index.js';
import { buildServerV1 } from '../helpers/server.js';
import { initializeRequest, mcpReply } from '../helpers/streamable.js';
import { startHarness, type Harness } from '../helpers/server.js';

/** A bus reporting its connection state like the Redis bus's stats(). */
class ProbedBus extends InMemorySessionBus {
  connected = true;
  stats() {
    return { sessions: 0, connected: this.connected };
  }
}

let harness: Harness | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

const appWith = (router: McpSseRouter) => express().get('/ready', router.health).use('/mcp', router);

describe('router.health', () => {
  it('answers 200 with the numbers of stats() and null for a bus without stats()', async () => {
    harness = await startHarness();
    harness.app.get('/ready', harness.router.health);
    expect((await mcpReply(harness.mcpUrl, { body: initializeRequest() })).status).toBe(200);
    const res = await request(harness.baseUrl).get('/ready');
    expect(res.status).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.body).toEqual({ status: 'ok', sessions: harness.router.sessions.stats(), bus: null });
    expect(res.body.sessions).toMatchObject({ opened: 1, byTransport: { 'streamable-http': { active: 0, detached: 1 } } });
  });

  it("carries the bus's stats() and answers 503 bus_unavailable while it is not connected", async () => {
    const bus = new ProbedBus();
    const router = createMcpSseRouter({ createServer: () => buildServerV1(), bus });
    const app = appWith(router);
    const up = await request(app).get('/ready');
    expect(up.status).toBe(200);
    expect(up.body).toMatchObject({ status: 'ok', bus: { connected: true } });
    bus.connected = false;
    const down = await request(app).get('/ready');
    expect(down.status).toBe(503);
    expect(down.body).toMatchObject({ status: 'bus_unavailable', bus: { connected: false }, sessions: { active: 0 } });
    await router.close();
  });

  it('answers 503 draining once close() started', async () => {
    const router = createMcpSseRouter({ createServer: () => buildServerV1() });
    const app = appWith(router);
    const closing = router.close();
    const res = await request(app).get('/ready');
    expect(res.status).toBe(503);
    expect(res.body.status).toBe('draining');
    await closing;
    expect((await request(app).get('/ready')).body.status).toBe('draining');
  });

  it('answers HEAD without a body, and a bus whose stats() throws as unavailable', async () => {
    const bus = Object.assign(new InMemorySessionBus(), {
      stats() {
        throw new Error('broken');
      },
    });
    const router = createMcpSseRouter({ createServer: () => buildServerV1(), bus });
    const app = express().head('/ready', router.health).get('/ready', router.health);
    const head = await request(app).head('/ready');
    expect(head.status).toBe(503);
    expect(head.text).toBeUndefined();
    expect((await request(app).get('/ready')).body).toMatchObject({ status: 'bus_unavailable', bus: null });
    await router.close();
  });
});
