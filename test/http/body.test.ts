// readMessages() lets through exactly the messages an MCP server (SDK v1 and v2) can classify: anything else would be
// dropped by the server unanswered, holding a Streamable HTTP POST stream and its session forever.
import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as v1 from '@modelcontextprotocol/sdk/types.js';
import * as v2 from '@modelcontextprotocol/server';
import { readMessages, type BodyLimits } from '../../lib/http/body.js';

const limits: BodyLimits = { maxMessageSize: 1 << 20, maxBatchSize: 100, bodyTimeoutMs: 0 };
import { fuzzMessage } from '../helpers/fuzz.js';

/** A request an app-level express.json() already parsed (so complete): readMessages reads `body` and nothing else. */
function parsed(body: unknown): IncomingMessage {
  return { headers: {}, _body: true, body, complete: true, readableEnded: true } as unknown as IncomingMessage;
}

function classifiedBy(sdk: typeof v1 | typeof v2, message: unknown): boolean {
  return (
    sdk.isJSONRPCRequest(message) || sdk.isJSONRPCNotification(message) || sdk.isJSONRPCResultResponse(message) || sdk.isJSONRPCErrorResponse(message)
  );
}

/** Messages near the edges the SDKs draw: ids, params and result shapes, _meta, extra members. */
const edgeMessage = fc.record(
  {
    jsonrpc: fc.constant('2.0'),
    id: fc.oneof(fc.integer(), fc.string({ maxLength: 4 }), fc.double(), fc.constant(2 ** 60), fc.constant(null)),
    method: fc.constantFrom('ping', 'tools/call', 'notifications/progress'),
    params: fc.oneof(
      fc.dictionary(fc.string({ maxLength: 4 }), fc.jsonValue({ maxDepth: 1 }), { maxKeys: 2 }),
      fc.array(fc.integer(), { maxLength: 2 }),
      fc.record({
        _meta: fc.oneof(
          fc.constant(null),
          fc.integer(),
          fc.record({ progressToken: fc.oneof(fc.string(), fc.integer(), fc.double(), fc.boolean()) }, { requiredKeys: [] }),
          fc.record({
            'io.modelcontextprotocol/related-task': fc.oneof(
              fc.record({ taskId: fc.string() }),
              fc.record({ taskId: fc.integer() }),
              fc.constant(null),
            ),
          }),
        ),
      }),
    ),
    result: fc.oneof(fc.dictionary(fc.string({ maxLength: 4 }), fc.jsonValue({ maxDepth: 1 }), { maxKeys: 2 }), fc.jsonValue({ maxDepth: 1 })),
    error: fc.oneof(fc.record({ code: fc.oneof(fc.integer(), fc.double()), message: fc.string() }), fc.jsonValue({ maxDepth: 1 })),
    extra: fc.jsonValue({ maxDepth: 1 }),
  },
  { requiredKeys: ['jsonrpc'] },
);

describe('readMessages()', () => {
  it('accepts a message exactly when both SDKs can classify it (ours also refuses an empty method and an error without id)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(fuzzMessage, edgeMessage), async (message) => {
        const result = await readMessages(parsed(message), limits);
        const sdkAccepts = classifiedBy(v1, message) && classifiedBy(v2, message);
        const record = message as Record<string, unknown>;
        const stricter = record.method === '' || ('error' in record && !('id' in record));
        if (result.ok) expect(sdkAccepts, JSON.stringify(message)).toBe(true);
        else if (!stricter) expect(sdkAccepts, JSON.stringify(message)).toBe(false);
      }),
      { numRuns: 2000 },
    );
  });

  it('refuses the shapes that left a request unanswered: array params, fractional or huge ids, extra members, a bad _meta', async () => {
    const refused = [
      { jsonrpc: '2.0', id: 7, method: 'ping', params: [1] },
      { jsonrpc: '2.0', id: 1.5, method: 'ping' },
      { jsonrpc: '2.0', id: 2 ** 60, method: 'ping' },
      { jsonrpc: '2.0', id: 1, method: 'ping', result: {} },
      { jsonrpc: '2.0', id: 1, method: 'ping', params: { _meta: { progressToken: true } } },
      { jsonrpc: '2.0', id: 1, result: 5 },
      { jsonrpc: '2.0', method: 'notifications/initialized', id: null },
    ];
    for (const message of refused) {
      const result = await readMessages(parsed(message), limits);
      expect(result.ok, JSON.stringify(message)).toBe(false);
      if (!result.ok) expect(result.problem).toMatchObject({ status: 400, reason: 'invalid_request' });
    }
    const accepted = await readMessages(
      parsed([
        { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'x', _meta: { progressToken: 'p' } } },
        { jsonrpc: '2.0', id: 'r', result: {} },
      ]),
      limits,
    );
    expect(accepted.ok).toBe(true);
  });
});
