// bench/contenders.js: every contender's name, the transport the load client speaks to it, and the groups ratios are taken in.

/**
 * Each contender is one `bench/server.js <name>` process. `wire` is what the load client speaks: `sse` is the
 * HTTP+SSE transport (GET /mcp/sse + POST /mcp/messages), `streamable` the Streamable HTTP transport (/mcp), `modern`
 * the 2026-07-28 era on the Streamable HTTP endpoint (each request a POST carrying its protocol version, no session).
 */
export const CONTENDERS = {
  pkg: { wire: 'sse', what: 'this package, default options' },
  'pkg-secured': { wire: 'sse', what: 'this package with apiKeyStrategy, cors and both rate limiters' },
  sdk: { wire: 'sse', what: 'SDK v1 SSEServerTransport as in the SDK README' },
  'sdk-secured': {
    wire: 'sse',
    what: "sdk behind the same passport-headerapikey, cors and express-rate-limit settings, wired by hand (Passport's authenticate())",
  },
  ceiling: { wire: 'sse', what: 'the smallest correct hand-written SSE transport' },
  'pkg-streamable': { wire: 'streamable', what: "this package's Streamable HTTP route, default options" },
  'pkg-streamable-secured': { wire: 'streamable', what: 'the same with apiKeyStrategy, cors and the mcp rate limiter' },
  'pkg-streamable-v2': { wire: 'streamable', what: 'pkg-streamable serving an SDK v2 McpServer, the server sdk2-streamable has' },
  'sdk1-streamable': { wire: 'streamable', what: 'SDK v1 StreamableHTTPServerTransport, stateful, as in the SDK README' },
  'sdk1-streamable-secured': {
    wire: 'streamable',
    what: 'sdk1-streamable behind the same passport-headerapikey, cors and express-rate-limit settings, wired by hand',
  },
  'sdk2-streamable': {
    wire: 'streamable',
    what: "SDK v2 NodeStreamableHTTPServerTransport (@modelcontextprotocol/node), stateful, as in the SDK's guide",
  },
  'pkg-modern': {
    wire: 'modern',
    what: 'the router serving 2026-07-28 requests (no session) with an SDK v2 McpServer built per request',
  },
  'sdk2-modern': {
    wire: 'modern',
    what: "SDK v2's createMcpHandler() (@modelcontextprotocol/server) mounted on Express with toNodeHandler(), the same per-request v2 server",
  },
  // Started by phase g only: the package on a Redis bus.
  'pkg-redis': { wire: 'sse', what: 'pkg on the Redis bus (phase g)', internal: true },
  'pkg-streamable-redis': { wire: 'streamable', what: 'pkg-streamable on the Redis bus (phase g)', internal: true },
};

/** The contenders a run selects from (phase g starts its own). */
export const ALL_CONTENDERS = Object.keys(CONTENDERS).filter((c) => !CONTENDERS[c].internal);

/**
 * Ratios are taken within a group, against its baseline: HTTP+SSE against the SDK's SSEServerTransport, Streamable
 * HTTP against the faster (by server CPU per call in phase a) of the two SDK Streamable HTTP transports.
 */
export const GROUPS = [
  { wire: 'sse', title: 'HTTP+SSE transport', baselines: ['sdk'] },
  { wire: 'streamable', title: 'Streamable HTTP transport', baselines: ['sdk1-streamable', 'sdk2-streamable'] },
  { wire: 'modern', title: '2026-07-28 requests (stateless, a server per request)', baselines: ['sdk2-modern'] },
];

/** Each secured package contender and the hand-wired contender it is compared with (goal: ≤ 0.8× its CPU). */
export const HAND_WIRED = { 'pkg-secured': 'sdk-secured', 'pkg-streamable-secured': 'sdk1-streamable-secured' };

/**
 * Variants, for diagnosis: `BENCH_VARIANTS='{"json":{"jsonResponse":true},"b":{"dist":"/tmp/dist-b"}}'` makes
 * `pkg-streamable~json` (the router with those options on top) and `pkg-streamable~b` (the router built into
 * another folder, to A/B a change to lib/) selectable in BENCH_CONTENDERS, so both run in one interleaved round trip.
 * `mount` mounts the router elsewhere than `/mcp`: `{"mount":"/","ssePath":"/mcp/sse","messagesPath":"/mcp/messages"}`
 * serves the same URLs from the app's own router, which measures what Express's mounting costs (about 9k
 * instructions per call in December 2026).
 */
export function variants() {
  const text = process.env.BENCH_VARIANTS;
  if (!text) return BUILT_IN_VARIANTS;
  const parsed = JSON.parse(text);
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new TypeError('BENCH_VARIANTS must be a JSON object of name → options');
  return { ...BUILT_IN_VARIANTS, ...parsed };
}

/**
 * Always selectable: the cost of tracing. Plain `pkg…` has `@opentelemetry/api` installed and no provider; `~noapi`
 * is the router of an app without the API (uninstrumented); `~otel` registers a provider with a no-op exporter
 * (bench/otel.js). E.g. `BENCH_CONTENDERS=pkg-streamable,pkg-streamable~noapi,pkg-streamable~otel BENCH_ONLY=a`.
 */
const BUILT_IN_VARIANTS = { noapi: { otel: 'absent' }, otel: { otel: 'sdk' } };

/** `{ base, variant }` of a contender name such as `pkg-streamable~json`; throws for an unknown one. */
export function parseContender(contender) {
  const [base, variant, ...rest] = contender.split('~');
  if (CONTENDERS[base] === undefined || rest.length > 0) {
    throw new TypeError(`unknown contender ${contender} (expected ${ALL_CONTENDERS.join(', ')}, or pkg…~variant)`);
  }
  if (variant !== undefined) {
    if (!base.startsWith('pkg')) throw new TypeError(`contender ${contender}: only the pkg contenders have variants`);
    if (variants()[variant] === undefined) throw new TypeError(`contender ${contender}: BENCH_VARIANTS has no "${variant}"`);
  }
  return { base, variant: variant === undefined ? undefined : variants()[variant] };
}

export function wireOf(contender) {
  return CONTENDERS[parseContender(contender).base].wire;
}

export const isStreamable = (contender) => wireOf(contender) === 'streamable';

/** Headers every request of a contender carries. */
export function headersFor(contender) {
  return parseContender(contender).base.endsWith('-secured') ? { 'x-api-key': 'bench-key-0123456789' } : {};
}

/**
 * Phases that apply to a wire: the slow consumer (e) is measured on HTTP+SSE streams only; a 2026-07-28 request
 * opens no session and holds no stream, so that era has the round trip (a) only.
 */
export function phaseApplies(phase, contender) {
  if (wireOf(contender) === 'modern') return phase === 'roundTrip';
  return !(phase === 'slowConsumer' && isStreamable(contender));
}
