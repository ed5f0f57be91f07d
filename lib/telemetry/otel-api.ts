// Finds `@opentelemetry/api` (an optional peer dependency) once, and tells whether the app registered providers.
import { createRequire } from 'node:module';

export type OtelApi = typeof import('@opentelemetry/api');

let cached: OtelApi | null | undefined;

/**
 * The app's OpenTelemetry API, or `undefined` when it is not installed. Every copy of the API (ESM or CommonJS, any
 * 1.x) shares one global registry of providers and context manager, so the CommonJS copy sees what the app set up.
 */
export function loadOtelApi(): OtelApi | undefined {
  if (cached === undefined) {
    try {
      const require = createRequire(typeof __filename === 'string' ? __filename : import.meta.url);
      cached = require('@opentelemetry/api') as OtelApi;
    } catch {
      cached = null;
    }
  }
  return cached ?? undefined;
}

/** What a provider stands for: the global tracer provider is a proxy whose delegate is the app's, once it registered one. */
export function delegateOf(provider: unknown): unknown {
  const proxy = provider as { getDelegate?: () => unknown };
  return typeof proxy.getDelegate === 'function' ? proxy.getDelegate() : provider;
}

/**
 * Whether a provider is a no-op one: what the API hands out while the app registered none. The API's no-op classes
 * are not exported, and another copy of the API has other classes, so they are recognised by name.
 */
export function isNoop(provider: unknown, noopName: 'NoopTracerProvider' | 'NoopMeterProvider'): boolean {
  return (delegateOf(provider) as { constructor?: { name?: string } } | undefined)?.constructor?.name === noopName;
}
