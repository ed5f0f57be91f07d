// bench/otel.js: OpenTelemetry set-ups for the `otel` variant option (bench/contenders.js): measures what tracing costs.
//   "absent": `@opentelemetry/api` cannot be found, as in an app without it (the router never loads it);
//   "context": only the AsyncLocalStorage context manager, no provider: what any app with OpenTelemetry pays anyway
//             (on Node 20 it turns on async hooks for every promise), to tell it apart from the router's own spans;
//   "sdk":    a registered tracer provider (every span sampled and ended, handed to a no-op exporter through a batch
//             processor, as an app exporting traces does) and a meter provider whose reader is never collected;
// without the option the API is installed (a dev dependency here) and no provider is registered.
import Module from 'node:module';

export async function setUpOtel(mode) {
  if (mode === 'absent') {
    const resolve = Module._resolveFilename;
    Module._resolveFilename = function (request, ...rest) {
      if (request === '@opentelemetry/api') throw Object.assign(new Error(`Cannot find module '${request}'`), { code: 'MODULE_NOT_FOUND' });
      return resolve.call(this, request, ...rest);
    };
    return;
  }
  if (mode !== 'sdk' && mode !== 'context')
    throw new TypeError(`variant option otel must be "absent", "context" or "sdk", got ${JSON.stringify(mode)}`);
  const { context, metrics, propagation, trace } = await import('@opentelemetry/api');
  const { AsyncLocalStorageContextManager } = await import('@opentelemetry/context-async-hooks');
  if (mode === 'context') {
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    return;
  }
  const { W3CTraceContextPropagator } = await import('@opentelemetry/core');
  const { BasicTracerProvider, BatchSpanProcessor } = await import('@opentelemetry/sdk-trace-base');
  const { MeterProvider, MetricReader } = await import('@opentelemetry/sdk-metrics');
  const noopExporter = { export: (_spans, done) => done({ code: 0 }), shutdown: async () => {}, forceFlush: async () => {} };
  class IdleReader extends MetricReader {
    async onForceFlush() {}
    async onShutdown() {}
  }
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new BatchSpanProcessor(noopExporter)] }));
  metrics.setGlobalMeterProvider(new MeterProvider({ readers: [new IdleReader()] }));
}
