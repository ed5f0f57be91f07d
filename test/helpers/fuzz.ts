// fast-check arbitraries for fuzzing the POST routes of both transports: JSON-RPC-like bodies, Content-Types, and
// the id an error envelope must echo for a given body.
import fc from 'fast-check';

const jsonrpcField = fc.constantFrom<unknown>('2.0', '2.0', '2.0', '1.0', 2, null, '');
const idField = fc.oneof(fc.integer(), fc.string({ maxLength: 10 }), fc.constant(null), fc.double(), fc.boolean(), fc.constant({}), fc.constant([1]));
const methodField = fc.oneof(
  fc.constantFrom('ping', 'tools/list', 'tools/call', 'initialize', 'notifications/initialized', 'notifications/cancelled', 'resources/list', ''),
  fc.string({ maxLength: 20 }),
  fc.integer(),
);
const paramsField = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.constant({ name: 'echo', arguments: { text: 'x' } }),
  fc.constant({ name: 'nope', arguments: {} }),
);

/** Objects that look like JSON-RPC messages, each field possibly wrong or missing. */
export const nearValidMessage = fc.record(
  {
    jsonrpc: jsonrpcField,
    id: idField,
    method: methodField,
    params: paramsField,
    result: fc.jsonValue({ maxDepth: 2 }),
    error: fc.oneof(fc.record({ code: fc.integer(), message: fc.string() }), fc.jsonValue({ maxDepth: 2 })),
  },
  { requiredKeys: [] },
);

/** Mostly valid requests and notifications, so the accepting path (and the server behind it) gets exercised. */
export const validMessage = fc.record(
  {
    jsonrpc: fc.constant('2.0'),
    id: fc.oneof(fc.integer(), fc.string({ maxLength: 10 })),
    method: fc.constantFrom('ping', 'tools/list', 'resources/list', 'notifications/cancelled', 'no/such/method'),
    params: fc.dictionary(fc.string({ maxLength: 5 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }),
  },
  { requiredKeys: ['jsonrpc', 'method'] },
);

export const fuzzMessage = fc.oneof(nearValidMessage, validMessage);

const hugeNumber = fc.oneof(
  fc.stringMatching(/^-?[1-9][0-9]{15,400}$/),
  fc.constantFrom('1e400', '-1e400', '1e-400', '123456789012345678901234567890.5e300', '0.00000000000000000000000001'),
);
const deep = fc.tuple(fc.integer({ min: 1, max: 3000 }), fc.constantFrom('[', '{"a":')).map(([depth, open]) => {
  const close = open === '[' ? ']' : '}';
  return `{"jsonrpc":"2.0","id":7,"method":"ping","params":${open.repeat(depth)}1${close.repeat(depth)}}`;
});

/** Request bodies as bytes: junk, JSON, messages, batches, huge numbers, deep nesting, truncations, and some over `maxMessageSize`. */
export function fuzzBody(maxMessageSize: number): fc.Arbitrary<Buffer> {
  return fc.oneof(
    { weight: 2, arbitrary: fc.uint8Array({ maxLength: 512 }).map((bytes) => Buffer.from(bytes)) },
    { weight: 2, arbitrary: fc.json({ maxDepth: 4 }).map((s) => Buffer.from(s)) },
    { weight: 4, arbitrary: fuzzMessage.map((m) => Buffer.from(JSON.stringify(m))) },
    { weight: 3, arbitrary: fc.array(fuzzMessage, { maxLength: 6 }).map((b) => Buffer.from(JSON.stringify(b))) },
    { weight: 1, arbitrary: hugeNumber.map((n) => Buffer.from(`{"jsonrpc":"2.0","id":${n},"method":"ping"}`)) },
    { weight: 1, arbitrary: deep.map((s) => Buffer.from(s)) },
    // Truncated and corrupted valid messages.
    {
      weight: 2,
      arbitrary: fc.tuple(fuzzMessage, fc.nat()).map(([m, cut]) => {
        const s = JSON.stringify(m);
        return Buffer.from(s.slice(0, cut % (s.length + 1)));
      }),
    },
    {
      weight: 1,
      arbitrary: fc
        .tuple(validMessage, fc.uint8Array({ minLength: 1, maxLength: 4 }))
        .map(([m, junk]) => Buffer.concat([Buffer.from(JSON.stringify(m)), Buffer.from(junk)])),
    },
    // Over maxMessageSize, as a valid message and as junk.
    {
      weight: 1,
      arbitrary: fc
        .integer({ min: 1, max: 3 * maxMessageSize })
        .map((n) => Buffer.from(`{"jsonrpc":"2.0","method":"ping","params":{"pad":"${'x'.repeat(maxMessageSize + n)}"}}`)),
    },
  );
}

/** Content-Types: mostly JSON ones, some wrong, some printable junk; `undefined` sends none. */
export const fuzzContentType = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('application/json', 'application/json; charset=utf-8', 'APPLICATION/JSON', 'application/vnd.api+json') },
  {
    weight: 2,
    arbitrary: fc.constantFrom<string | undefined>(
      undefined,
      '',
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
      'application/jsonx',
      'json',
    ),
  },
  { weight: 1, arbitrary: fc.stringMatching(/^[\x20-\x7e]{0,40}$/).map((s) => s.trim()) },
);

const isId = (v: unknown): v is string | number => typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v));

/**
 * The id an error envelope must echo for `bytes`: the request's id when the body parses to a single object,
 * `null` when it was refused before or while parsing; `undefined` when not determined (a batch).
 */
export function expectedId(bytes: Buffer, status: number): string | number | null | undefined {
  if (status === 406 || status === 413 || status === 415) return null;
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch {
    return null;
  }
  if (Array.isArray(value)) return value.length === 0 ? null : undefined;
  if (typeof value !== 'object' || value === null) return null;
  const id = (value as Record<string, unknown>).id;
  return isId(id) ? id : null;
}
