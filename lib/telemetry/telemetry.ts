// OpenTelemetry for the router: a server span per JSON-RPC request handed to a server, and the MCP metrics.
import type { IncomingHttpHeaders } from 'node:http';
import type { Context, Histogram, Link, Meter, MeterProvider, Span, TextMapGetter, Tracer } from '@opentelemetry/api';
import type { SessionStats } from '../stats.js';
import type { JSONRPCMessage, MessageExtra } from '../types.js';
import { type Attributes, describeRequest, durationBuckets, metaCarrier, type Outcome, outcomeOf, sessionAttributes } from './conventions.js';
import { delegateOf, isNoop, loadOtelApi, type OtelApi } from './otel-api.js';

/** What telemetry reads of a session. */
export interface TracedSession {
  readonly sessionId: string;
  readonly protocolVersion: string | undefined;
}

/** One traced request outside a session (the 2026-07-28 stateless leg). */
export interface RequestTrace {
  /** Runs `fn` with the request span's context active, so the server's own spans nest under it. */
  run<T>(fn: () => T): T;
  /** Ends the span and records the duration; `status` is the HTTP status of the answer, `error` what cut it. */
  end(status: number | undefined, error?: unknown): void;
}

/** What happens to a session besides its requests: relayed to its owner, adopted by this instance, a stream resumed. */
export type AroundName = 'mcp.session.relay' | 'mcp.session.adopt' | 'mcp.stream.resume';

/** A span around one of those; `outcome` is `'ok'` or why it did not happen (it becomes `error.type`). */
export interface AroundSpan {
  end(outcome: string): void;
}

/** The router's telemetry: a no-op cost unless the app registered an OpenTelemetry provider. */
export interface Telemetry {
  /**
   * Starts an INTERNAL span for something around the requests (parent: the ambient context, else the request's
   * `traceparent` header), or returns `undefined` when not tracing.
   */
  around(name: AroundName, sessionId: string | undefined, headers: IncomingHttpHeaders | undefined): AroundSpan | undefined;
  /** Hands a client message to the server through `deliver`, inside the span of that request. */
  handOver(session: TracedSession, message: JSONRPCMessage, extra: MessageExtra | undefined, deliver: () => void): void;
  /** A message the server sends: a response ends its request's span. */
  responded(session: TracedSession, message: JSONRPCMessage): void;
  sessionOpened(session: TracedSession): void;
  /** The session is over: requests still open end as `session_closed`, and its duration is recorded. */
  sessionEnded(session: TracedSession): void;
  /** Starts the span of a stateless request, or returns `undefined` when nothing is recorded. */
  request(message: JSONRPCMessage, headers: IncomingHttpHeaders, protocolVersion: string | undefined): RequestTrace | undefined;
}

const scope = 'express-mcp-sse';

/** Telemetry for one router, or `undefined` when `@opentelemetry/api` is not installed (the app pays nothing then). */
export function createTelemetry(stats: () => SessionStats): Telemetry | undefined {
  const api = loadOtelApi();
  return api === undefined ? undefined : new OtelTelemetry(api, stats);
}

interface Pending {
  span: Span | undefined;
  started: number;
  metric: Attributes;
}

interface SessionState {
  /** `performance.now()` when the session opened while metrics were on. */
  openedAt: number | undefined;
  /** The version the server answered `initialize` with (HTTP+SSE sessions learn it only then). */
  protocolVersion: string | undefined;
  pending: Map<string | number, Pending>;
}

/** Reads string values only: `_meta` is client JSON. */
const stringGetter: TextMapGetter<Record<string, unknown>> = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => {
    const value = carrier[key];
    return typeof value === 'string' || (Array.isArray(value) && typeof value[0] === 'string') ? (value as string | string[]) : undefined;
  },
};

class OtelTelemetry implements Telemetry {
  readonly #api: OtelApi;
  readonly #stats: () => SessionStats;
  readonly #tracer: Tracer;
  readonly #sessions = new WeakMap<TracedSession, SessionState>();
  #tracerDelegate: unknown;
  #tracing = false;
  #meterProvider: MeterProvider | undefined;
  #instruments: { operation: Histogram; session: Histogram } | undefined;

  constructor(api: OtelApi, stats: () => SessionStats) {
    this.#api = api;
    this.#stats = stats;
    this.#tracer = api.trace.getTracer(scope);
  }

  handOver(session: TracedSession, message: JSONRPCMessage, extra: MessageExtra | undefined, deliver: () => void): void {
    if (message.id === undefined || message.method === undefined) {
      if (message.method === 'notifications/cancelled') this.#cancelled(session, message);
      return deliver();
    }
    const tracing = this.#tracingOn();
    if (!tracing && !this.#metricsOn()) return deliver(); // the API without providers: nothing to record
    const state = this.#sessions.get(session);
    const version = extraVersion(extra) ?? state?.protocolVersion ?? session.protocolVersion ?? initializeVersion(message);
    const { pending, context } = this.#start(tracing, message, session.sessionId, version, extra?.requestInfo?.headers);
    (state ?? this.#newState(session, undefined)).pending.set(message.id, pending);
    if (context === undefined) return deliver();
    try {
      this.#api.context.with(context, deliver);
    } catch (error) {
      this.#finish(pending, { errorType: errorTypeOf(error) });
      this.#sessions.get(session)?.pending.delete(message.id);
      throw error;
    }
  }

  around(name: AroundName, sessionId: string | undefined, headers: IncomingHttpHeaders | undefined): AroundSpan | undefined {
    if (!this.#tracingOn()) return undefined;
    const { context, propagation, trace } = this.#api;
    const active = context.active();
    const parent =
      trace.getSpanContext(active) !== undefined || headers === undefined
        ? active
        : propagation.extract(active, headers as Record<string, unknown>, stringGetter);
    const attributes: Attributes = sessionId === undefined ? {} : { 'mcp.session.id': sessionId };
    const span = this.#tracer.startSpan(name, { kind: this.#api.SpanKind.INTERNAL, attributes }, parent);
    return {
      end: (outcome) => {
        if (outcome !== 'ok') {
          span.setAttribute('error.type', outcome);
          span.setStatus({ code: this.#api.SpanStatusCode.ERROR });
        }
        span.end();
      },
    };
  }

  responded(session: TracedSession, message: JSONRPCMessage): void {
    if (message.method !== undefined || message.id === undefined) return;
    const state = this.#sessions.get(session);
    const pending = state?.pending.get(message.id);
    if (pending === undefined) return;
    state!.pending.delete(message.id);
    if (pending.metric['mcp.method.name'] === 'initialize') {
      const version = (message.result as { protocolVersion?: unknown } | undefined)?.protocolVersion;
      if (typeof version === 'string') state!.protocolVersion = version;
    }
    this.#finish(pending, outcomeOf(message));
  }

  sessionOpened(session: TracedSession): void {
    if (this.#metricsOn()) this.#newState(session, performance.now());
  }

  sessionEnded(session: TracedSession): void {
    const state = this.#sessions.get(session);
    if (state === undefined) return;
    this.#sessions.delete(session);
    for (const pending of state.pending.values()) this.#finish(pending, { errorType: 'session_closed' });
    if (state.openedAt !== undefined && this.#metricsOn()) {
      const seconds = (performance.now() - state.openedAt) / 1000;
      this.#instruments!.session.record(seconds, sessionAttributes(state.protocolVersion ?? session.protocolVersion));
    }
  }

  request(message: JSONRPCMessage, headers: IncomingHttpHeaders, protocolVersion: string | undefined): RequestTrace | undefined {
    if (message.id === undefined || message.method === undefined) return undefined;
    const tracing = this.#tracingOn();
    if (!tracing && !this.#metricsOn()) return undefined;
    const { pending, context } = this.#start(tracing, message, undefined, protocolVersion, headers);
    let ended = false;
    return {
      run: (fn) => (context === undefined ? fn() : this.#api.context.with(context, fn)),
      end: (status, error) => {
        if (ended) return;
        ended = true;
        const errorType = error !== undefined ? errorTypeOf(error) : status !== undefined && status >= 400 ? String(status) : undefined;
        this.#finish(pending, errorType === undefined ? {} : { errorType });
      },
    };
  }

  /** Starts a request's clock, and its span when tracing. */
  #start(
    tracing: boolean,
    message: JSONRPCMessage,
    sessionId: string | undefined,
    version: string | undefined,
    headers: IncomingHttpHeaders | undefined,
  ): { pending: Pending; context: Context | undefined } {
    const description = describeRequest(message, sessionId, version);
    const pending: Pending = { span: undefined, started: performance.now(), metric: description.metric };
    if (!tracing) return { pending, context: undefined };
    const { parent, links } = this.#parentOf(message, headers);
    pending.span = this.#tracer.startSpan(
      description.name,
      { kind: this.#api.SpanKind.SERVER, attributes: description.span, ...(links.length > 0 ? { links } : {}) },
      parent,
    );
    return { pending, context: this.#api.trace.setSpan(parent, pending.span) };
  }

  /**
   * The conventions: the parent is the context the client put in `params._meta`, and the ambient context (an HTTP
   * server span) is linked. Without `_meta`, the ambient span is the parent, else the HTTP headers' trace context
   * (a request relayed from another instance carries the client's headers).
   */
  #parentOf(message: JSONRPCMessage, headers: IncomingHttpHeaders | undefined): { parent: Context; links: Link[] } {
    const { context, propagation, trace } = this.#api;
    const active = context.active();
    const ambient = trace.getSpanContext(active);
    const meta = metaCarrier(message);
    if (meta !== undefined) {
      const parent = propagation.extract(active, meta, stringGetter);
      const links = ambient !== undefined && trace.isSpanContextValid(ambient) ? [{ context: ambient }] : [];
      return { parent, links };
    }
    if (ambient !== undefined || headers === undefined) return { parent: active, links: [] };
    return { parent: propagation.extract(active, headers as Record<string, unknown>, stringGetter), links: [] };
  }

  #finish(pending: Pending, outcome: Outcome): void {
    const { span } = pending;
    if (span !== undefined) {
      if (outcome.errorType !== undefined) {
        span.setAttribute('error.type', outcome.errorType);
        if (outcome.statusCode !== undefined) span.setAttribute('rpc.response.status_code', outcome.statusCode);
        span.setStatus({ code: this.#api.SpanStatusCode.ERROR, ...(outcome.message === undefined ? {} : { message: outcome.message }) });
      }
      span.end();
    }
    if (this.#metricsOn()) {
      const attributes =
        outcome.errorType === undefined
          ? pending.metric
          : {
              ...pending.metric,
              'error.type': outcome.errorType,
              ...(outcome.statusCode === undefined ? {} : { 'rpc.response.status_code': outcome.statusCode }),
            };
      this.#instruments!.operation.record((performance.now() - pending.started) / 1000, attributes);
    }
  }

  #cancelled(session: TracedSession, message: JSONRPCMessage): void {
    const id = (message.params as { requestId?: unknown } | undefined)?.requestId;
    const state = this.#sessions.get(session);
    const pending = typeof id === 'string' || typeof id === 'number' ? state?.pending.get(id) : undefined;
    if (pending === undefined) return;
    state!.pending.delete(id as string | number);
    this.#finish(pending, { errorType: 'cancelled' });
  }

  #newState(session: TracedSession, openedAt: number | undefined): SessionState {
    const state: SessionState = { openedAt, protocolVersion: undefined, pending: new Map() };
    this.#sessions.set(session, state);
    return state;
  }

  /** Whether a tracer provider is registered now (it may be registered after the router was created). */
  #tracingOn(): boolean {
    const delegate = delegateOf(this.#api.trace.getTracerProvider());
    if (delegate !== this.#tracerDelegate) {
      this.#tracerDelegate = delegate;
      this.#tracing = !isNoop(delegate, 'NoopTracerProvider');
    }
    return this.#tracing;
  }

  /** Whether a meter provider is registered now; builds the instruments on the first one seen. */
  #metricsOn(): boolean {
    const provider = this.#api.metrics.getMeterProvider();
    if (provider !== this.#meterProvider) {
      this.#meterProvider = provider;
      this.#instruments = isNoop(provider, 'NoopMeterProvider') ? undefined : this.#createInstruments(provider.getMeter(scope));
    }
    return this.#instruments !== undefined;
  }

  #createInstruments(meter: Meter): { operation: Histogram; session: Histogram } {
    const advice = { explicitBucketBoundaries: durationBuckets };
    const operation = meter.createHistogram('mcp.server.operation.duration', {
      description: 'Duration of the MCP request as observed by the server, from receipt until its response is sent.',
      unit: 's',
      advice,
    });
    const session = meter.createHistogram('mcp.server.session.duration', {
      description: 'Duration of MCP sessions as observed by the server.',
      unit: 's',
      advice,
    });
    observeStats(meter, this.#stats);
    return { operation, session };
  }
}

/** `sessions.stats()` as observable instruments: session counts as gauges, the running totals as counters. */
function observeStats(meter: Meter, stats: () => SessionStats): void {
  const sessions = meter.createObservableGauge('mcp.server.session.count', {
    description: 'Sessions this instance holds, by transport and state (active: a stream open or a request in flight).',
    unit: '{session}',
  });
  const listening = meter.createObservableGauge('mcp.server.listen_stream.count', {
    description: 'Open subscriptions/listen streams of stateless (2026-07-28) clients.',
    unit: '{stream}',
  });
  const totals = {
    opened: ['mcp.server.sessions.opened', '{session}'],
    closed: ['mcp.server.sessions.closed', '{session}'],
    resumed: ['mcp.server.sessions.resumed', '{session}'],
    messagesIn: ['mcp.server.messages.received', '{message}'],
    messagesOut: ['mcp.server.messages.sent', '{message}'],
    bytesIn: ['mcp.server.io.received', 'By'],
    bytesOut: ['mcp.server.io.sent', 'By'],
    slowConsumerCuts: ['mcp.server.slow_consumer_cuts', '{stream}'],
    authFailures: ['mcp.server.auth_failures', '{request}'],
    rateLimited: ['mcp.server.rate_limited', '{request}'],
    statelessRequests: ['mcp.server.stateless_requests', '{request}'],
  } as const;
  const counters = Object.entries(totals).map(
    ([key, [name, unit]]) => [key as keyof typeof totals, meter.createObservableCounter(name, { unit })] as const,
  );
  meter.addBatchObservableCallback(
    (result) => {
      const now = stats();
      for (const transport of ['sse', 'streamable-http'] as const) {
        const counts = now.byTransport[transport];
        result.observe(sessions, counts.active, { 'mcp.transport': transport, 'mcp.session.state': 'active' });
        result.observe(sessions, counts.detached, { 'mcp.transport': transport, 'mcp.session.state': 'detached' });
      }
      result.observe(listening, now.listening);
      for (const [key, counter] of counters) result.observe(counter, now[key]);
    },
    [sessions, listening, ...counters.map(([, counter]) => counter)],
  );
}

/** The version a Streamable HTTP request states in its header. */
function extraVersion(extra: MessageExtra | undefined): string | undefined {
  const header = extra?.requestInfo?.headers['mcp-protocol-version'];
  return typeof header === 'string' ? header : undefined;
}

/** The version an `initialize` request asks for, until the server answers with the one it speaks. */
function initializeVersion(message: JSONRPCMessage): string | undefined {
  if (message.method !== 'initialize') return undefined;
  const version = (message.params as { protocolVersion?: unknown } | undefined)?.protocolVersion;
  return typeof version === 'string' ? version : undefined;
}

/** `error.type` of an exception: its class name (the conventions' choice for exceptions), else `_OTHER`. */
function errorTypeOf(error: unknown): string {
  return error instanceof Error && error.constructor.name !== '' ? error.constructor.name : '_OTHER';
}
