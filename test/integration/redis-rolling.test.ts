// A rolling restart under load with durable sessions: three instances behind nginx round-robin, each restarted in
// turn (SIGTERM → drain → exit → start) while SDK v1 and v2 clients loop tool calls: no call fails, no client
// re-initializes.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { Client as ClientV2, StreamableHTTPClientTransport as StreamableHTTPClientTransportV2 } from '@modelcontextprotocol/client';
import { startNginx, type Nginx } from './helpers/nginx.js';
import { freePort } from './helpers/programs.js';
import { startInstance, startRedis, textOf, type Instance, type RedisServer } from './helpers/redis.js';

let redis: RedisServer;
let nginx: Nginx;
const instances: Instance[] = [];

beforeAll(async () => {
  redis = await startRedis();
});

afterAll(async () => {
  await nginx?.stop();
  await Promise.all(instances.map((i) => i.kill()));
  await redis.dispose();
});

interface Looper {
  name: string;
  sessionId: () => string | undefined;
  call: (text: string) => Promise<unknown>;
  close: () => Promise<void>;
}

async function v1(url: string, i: number): Promise<Looper> {
  const client = new Client({ name: `v1-${i}`, version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(url));
  await client.connect(transport);
  return {
    name: `v1-${i}`,
    sessionId: () => transport.sessionId,
    call: (text) => client.callTool({ name: 'echo', arguments: { text } }),
    close: () => client.close(),
  };
}

async function v2(url: string, i: number): Promise<Looper> {
  const client = new ClientV2({ name: `v2-${i}`, version: '2.0.0' });
  const transport = new StreamableHTTPClientTransportV2(new URL(url));
  await client.connect(transport);
  return {
    name: `v2-${i}`,
    sessionId: () => transport.sessionId,
    call: (text) => client.callTool({ name: 'echo', arguments: { text } }),
    close: () => client.close(),
  };
}

describe('rolling restart with durable sessions', () => {
  it('loses no call and re-initializes no client while each of three instances restarts in turn', async () => {
    const prefix = `rolling-${randomUUID().slice(0, 8)}`;
    const ports = await Promise.all([0, 1, 2].map(() => freePort()));
    const names = ['A', 'B', 'C'];
    const started = await Promise.all(names.map((name, i) => startInstance({ redisUrl: redis.url, name, prefix, port: ports[i], retryMs: 200 })));
    instances.push(...started);
    nginx = await startNginx(ports, { nextUpstream: true });
    const url = `${nginx.baseUrl}/mcp`;
    const loopers = [...(await Promise.all([...Array(10).keys()].map((i) => v1(url, i)))), ...(await Promise.all([0, 1].map((i) => v2(url, i))))];
    const sessions = loopers.map((l) => l.sessionId());
    expect(sessions.every((id) => typeof id === 'string')).toBe(true);

    const stopped: Instance[] = [];
    let running = true;
    const failures: string[] = [];
    let calls = 0;
    /** Who waits for the next call to end (success or failure). */
    const progress: (() => void)[] = [];
    const loops = loopers.map(async (looper) => {
      for (let n = 0; running; n++) {
        const text = `${looper.name} ${n}`;
        try {
          expect(textOf(await looper.call(text))).toBe(text);
          calls++;
        } catch (error) {
          failures.push(`${looper.name}: ${(error as Error).message}`);
        }
        for (const wake of progress.splice(0)) wake();
      }
    });

    const waitForCalls = async (count: number) => {
      const target = calls + count;
      while (calls < target && failures.length < 50) await new Promise<void>((resolve) => progress.push(resolve));
    };
    await waitForCalls(100);
    for (let i = 0; i < 3; i++) {
      const old = instances[i]!;
      stopped.push(old);
      await old.stop();
      await waitForCalls(50);
      instances[i] = await startInstance({ redisUrl: redis.url, name: `${names[i]}2`, prefix, port: ports[i], retryMs: 200 });
      await waitForCalls(100);
    }
    running = false;
    await Promise.all(loops);
    const states = await Promise.all(instances.map((i) => i.state()));
    const adopted = states.reduce((sum, s) => sum + s.adopted.length, 0);
    console.log(`rolling restart: ${calls} calls, ${failures.length} failed, ${adopted} adoptions on the restarted instances`);
    if (failures.length > 0) for (const instance of [...stopped, ...instances]) console.log(instance.name, instance.output.slice(-2000));
    await Promise.all(loopers.map((l) => l.close().catch(() => {})));
    expect(failures).toEqual([]);
    expect(loopers.map((l) => l.sessionId())).toEqual(sessions);
    expect(states.reduce((sum, s) => sum + s.initializes, 0)).toBe(0);
    expect(nginx.errorLog()).not.toMatch(/\[(crit|alert|emerg)\]/);
  }, 120_000);
});
