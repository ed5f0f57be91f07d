// Model-based test of the 2026-07-28 leg over a real router: random interleavings of starting calls and listen
// streams, clients leaving, createServer() resolving, tools finishing, broadcasts and a drain, with the invariants
// checked after every step (listening counts what is open, no server closed twice, every ended request's server
// closed once, no error reported) and at the end (every server closed exactly once, nothing left open).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { waitFor } from '../../helpers/server.js';
import { type RawRequest, StatelessWorld } from './stateless-fixture.js';

type Stage = 'creating' | 'running' | 'listening' | 'done';
interface Tracked {
  kind: 'call' | 'listen';
  stage: Stage;
  /** The client has left. */
  left: boolean;
  progress: boolean;
}
interface Model {
  requests: Map<string, Tracked>;
  draining: boolean;
  next: number;
  broadcasts: number;
}
interface Real {
  world: StatelessWorld;
  clients: Map<string, RawRequest>;
  closing?: Promise<void>;
}
type Command = fc.AsyncCommand<Model, Real>;

const keysWhere = (model: Readonly<Model>, test: (r: Tracked) => boolean): string[] =>
  [...model.requests].filter(([, request]) => test(request)).map(([key]) => key);
const openListeners = (model: Readonly<Model>) => keysWhere(model, (r) => r.stage === 'listening' && !r.left);
const pick = (keys: string[], index: number): string => keys[index % keys.length]!;
const serverOf = (real: Real, key: string) => real.world.built.find((server) => server.key === key);

/** Waits until the request's server (if one was built) has been closed, then marks it done. */
async function closedOnce(real: Real, model: Model, key: string, what: string): Promise<void> {
  await waitFor(() => serverOf(real, key)?.closes === 1, 5000, what);
  model.requests.get(key)!.stage = 'done';
}

/**
 * What the model predicts after every step: while draining, once no request is in flight, the listen streams end
 * gracefully (the SDK's closing result) and close() resolves. Then the invariants.
 */
async function settle(model: Model, real: Real): Promise<void> {
  const stats = () => real.world.harness.router.sessions.stats();
  const inFlight = keysWhere(model, (r) => r.stage === 'creating' || r.stage === 'running');
  if (model.draining && inFlight.length === 0) {
    for (const key of openListeners(model)) {
      const client = real.clients.get(key)!;
      expect((await client.next((m) => m.id === key)).result).toMatchObject({ resultType: 'complete' });
      await client.ended.promise;
      model.requests.get(key)!.stage = 'done';
    }
    await real.closing;
  }
  expect(stats().listening).toBe(openListeners(model).length);
  expect(real.world.built.filter((server) => server.closes > 1)).toEqual([]);
  for (const key of keysWhere(model, (r) => r.stage === 'done')) {
    const server = serverOf(real, key);
    if (server !== undefined) expect(server.closes, `server of ${key}`).toBe(1);
  }
  expect(real.world.errors).toEqual([]);
}

class Start implements Command {
  constructor(
    readonly kind: 'call' | 'listen',
    readonly gate: boolean,
    readonly progress: boolean,
  ) {}
  check(): boolean {
    return true;
  }
  async run(model: Model, real: Real): Promise<void> {
    const key = `r${model.next++}`;
    const client = real.world.start(key, this.kind, { gate: this.gate, progress: this.progress });
    real.clients.set(key, client);
    const tracked: Tracked = { kind: this.kind, stage: 'creating', left: false, progress: this.progress };
    model.requests.set(key, tracked);
    if (model.draining) {
      expect((await client.head)?.status).toBe(503);
      await client.ended.promise;
      tracked.stage = 'done';
    } else {
      await real.world.createCalled.of(key).promise;
      if (!this.gate) await started(model, real, key);
    }
    await settle(model, real);
  }
  toString(): string {
    return `start(${this.kind}${this.gate ? ', gated' : ''}${this.progress ? ', progress' : ''})`;
  }
}

/** Waits for a served request to reach its steady stage: the tool running (streaming if asked), or the listen ack. */
async function started(model: Model, real: Real, key: string): Promise<void> {
  const tracked = model.requests.get(key)!;
  const client = real.clients.get(key)!;
  if (tracked.kind === 'listen') {
    await client.next((m) => m.method === 'notifications/subscriptions/acknowledged');
    tracked.stage = 'listening';
    return;
  }
  await real.world.toolStarted.of(key).promise;
  if (tracked.progress) await client.next((m) => m.method === 'notifications/progress');
  tracked.stage = 'running';
}

class ResolveCreate implements Command {
  constructor(readonly index: number) {}
  check(model: Readonly<Model>): boolean {
    return keysWhere(model, (r) => r.stage === 'creating').length > 0;
  }
  async run(model: Model, real: Real): Promise<void> {
    const key = pick(
      keysWhere(model, (r) => r.stage === 'creating'),
      this.index,
    );
    real.world.releaseCreate(key);
    if (model.requests.get(key)!.left) {
      // Built for a client that left: closed as soon as it exists, never used.
      await closedOnce(real, model, key, `the server of departed ${key} to close`);
      expect(real.world.toolStarted.fired(key)).toBe(false);
    } else {
      await started(model, real, key);
    }
    await settle(model, real);
  }
  toString(): string {
    return `resolveCreate(${this.index})`;
  }
}

class FinishTool implements Command {
  constructor(readonly index: number) {}
  check(model: Readonly<Model>): boolean {
    return keysWhere(model, (r) => r.stage === 'running' && !r.left).length > 0;
  }
  async run(model: Model, real: Real): Promise<void> {
    const key = pick(
      keysWhere(model, (r) => r.stage === 'running' && !r.left),
      this.index,
    );
    real.world.finishTool(key);
    const client = real.clients.get(key)!;
    expect((await client.next((m) => m.id === key)).result).toMatchObject({ content: [{ text: `released ${key}` }] });
    await client.ended.promise;
    await closedOnce(real, model, key, `the server of answered ${key} to close`);
    await settle(model, real);
  }
  toString(): string {
    return `finishTool(${this.index})`;
  }
}

class Leave implements Command {
  constructor(readonly index: number) {}
  check(model: Readonly<Model>): boolean {
    return keysWhere(model, (r) => r.stage !== 'done' && !r.left).length > 0;
  }
  async run(model: Model, real: Real): Promise<void> {
    const key = pick(
      keysWhere(model, (r) => r.stage !== 'done' && !r.left),
      this.index,
    );
    const tracked = model.requests.get(key)!;
    tracked.left = true;
    real.clients.get(key)!.leave();
    await real.world.responseClosed.of(key).promise;
    if (tracked.stage === 'running') {
      await real.world.toolAborted.of(key).promise;
      await closedOnce(real, model, key, `the server of abandoned ${key} to close`);
    } else if (tracked.stage === 'listening') {
      const open = openListeners(model).length;
      await waitFor(() => real.world.harness.router.sessions.stats().listening === open, 1000, `listen stream ${key} to be released`);
      await closedOnce(real, model, key, `the listen server of ${key} to close`);
    }
    // Still in createServer(): the server is closed when it exists (ResolveCreate checks it).
    await settle(model, real);
  }
  toString(): string {
    return `leave(${this.index})`;
  }
}

class Broadcast implements Command {
  check(): boolean {
    return true;
  }
  async run(model: Model, real: Real): Promise<void> {
    const seq = model.broadcasts++;
    const listeners = openListeners(model);
    expect(real.world.harness.router.sessions.broadcast({ method: 'notifications/tools/list_changed', params: { seq } })).toBe(listeners.length);
    for (const key of listeners) {
      await real.clients.get(key)!.next((m) => m.method === 'notifications/tools/list_changed' && m.params?.seq === seq);
    }
    await settle(model, real);
  }
  toString(): string {
    return 'broadcast';
  }
}

class Drain implements Command {
  check(model: Readonly<Model>): boolean {
    return !model.draining;
  }
  async run(model: Model, real: Real): Promise<void> {
    model.draining = true;
    real.closing = real.world.harness.router.close({ timeoutMs: 30_000 });
    await settle(model, real);
  }
  toString(): string {
    return 'drain';
  }
}

const commands = [
  fc
    .tuple(fc.constantFrom<'call' | 'listen'>('call', 'listen'), fc.boolean(), fc.boolean())
    .map(([kind, gate, progress]) => new Start(kind, gate, progress)),
  fc.tuple(fc.constant('call' as const), fc.boolean(), fc.boolean()).map(([kind, gate, progress]) => new Start(kind, gate, progress)),
  fc.nat(20).map((index) => new ResolveCreate(index)),
  fc.nat(20).map((index) => new ResolveCreate(index)),
  fc.nat(20).map((index) => new FinishTool(index)),
  fc.nat(20).map((index) => new Leave(index)),
  fc.nat(20).map((index) => new Leave(index)),
  fc.constant(new Broadcast()),
  fc.constant(new Drain()),
];

/** Ends what the run left open (clients leave, gates open, tools finish), then checks every server closed once. */
async function finish(model: Model, real: Real): Promise<void> {
  for (const [key, tracked] of model.requests) {
    if (tracked.stage === 'done') continue;
    real.clients.get(key)!.leave();
    real.world.releaseCreate(key);
    real.world.finishTool(key);
  }
  const { world } = real;
  await waitFor(() => world.harness.router.sessions.stats().listening === 0, 5000, 'every listen stream to be released');
  const reachedCreate = [...model.requests.keys()].filter((key) => world.createCalled.fired(key)).length;
  await waitFor(() => world.built.length === reachedCreate, 5000, 'every request that reached createServer() to have its server');
  await waitFor(() => world.misclosed().length === 0, 5000, 'every server to be closed exactly once');
  await world.harness.router.close({ timeoutMs: 5000 });
  expect(world.misclosed()).toEqual([]);
  expect(world.errors).toEqual([]);
}
describe('the 2026-07-28 leg, model-based', () => {
  it('holds its invariants through random interleavings of requests, departures, broadcasts and a drain', async () => {
    await fc.assert(
      fc.asyncProperty(fc.commands(commands, { maxCommands: 24, size: 'large' }), async (cmds) => {
        const world = await StatelessWorld.start({ keepAliveMs: 0 });
        const model: Model = { requests: new Map(), draining: false, next: 0, broadcasts: 0 };
        const real: Real = { world, clients: new Map() };
        try {
          await fc.asyncModelRun(() => ({ model, real }), cmds);
          await finish(model, real);
        } finally {
          for (const client of real.clients.values()) client.leave();
          await world.harness.close();
        }
      }),
      { numRuns: 60 },
    );
  }, 120_000);
});
