// OpenTelemetry's MCP semantic conventions (gen-ai/mcp.md): span names and attributes of a JSON-RPC request, pure functions.
import type { JSONRPCMessage } from '../types.js';

/** Attribute values as OpenTelemetry takes them. */
export type Attributes = Record<string, string | number | boolean>;

/** Both HTTP transports run over TCP, whatever the MCP wire. */
const networkAttributes: Readonly<Attributes> = Object.freeze({ 'network.transport': 'tcp', 'network.protocol.name': 'http' });

/** `mcp.server.operation.duration` buckets the conventions advise, in seconds. */
export const durationBuckets = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60, 120, 300];

/** What a request is about: the span name's target and the attributes that say so. */
export interface RequestDescription {
  /** `{mcp.method.name} {target}`, or the method alone when there is no low-cardinality target. */
  name: string;
  /** Attributes of the span. */
  span: Attributes;
  /** The subset the operation duration metric carries (no ids, no URIs: low cardinality). */
  metric: Attributes;
}

/**
 * Describes a client request: the target is the tool (`tools/call`) or prompt (`prompts/get`) name; a resource URI
 * is recorded as `mcp.resource.uri` but kept out of the span name (the conventions: high cardinality).
 */
export function describeRequest(message: JSONRPCMessage, sessionId: string | undefined, protocolVersion: string | undefined): RequestDescription {
  const method = message.method!;
  const params = (typeof message.params === 'object' && message.params !== null ? message.params : {}) as Record<string, unknown>;
  const target =
    (method === 'tools/call' || method === 'prompts/get') && typeof params.name === 'string' && params.name.length <= maxTargetLength
      ? params.name
      : undefined;
  const metric = metricAttributes(method, target, protocolVersion);
  const span: Attributes = Object.assign({}, metric);
  if (message.id !== undefined && message.id !== null) span['jsonrpc.request.id'] = String(message.id);
  if (sessionId !== undefined) span['mcp.session.id'] = sessionId;
  if (typeof params.uri === 'string' && method.startsWith('resources/')) span['mcp.resource.uri'] = params.uri;
  return { name: target === undefined ? method : `${method} ${target}`, span, metric };
}

/** A longer tool or prompt name is no low-cardinality target: it is left out of the name and the metric. */
const maxTargetLength = 128;
/** Metric attributes are the same for every call of a tool: built once each (bounded), not per request. */
const metricCache = new Map<string, Attributes>();
const metricCacheSize = 1024;

function metricAttributes(method: string, target: string | undefined, protocolVersion: string | undefined): Attributes {
  const key = `${method}\n${target ?? ''}\n${protocolVersion ?? ''}`;
  let attributes = metricCache.get(key);
  if (attributes !== undefined) return attributes;
  attributes = { 'mcp.method.name': method, 'network.transport': 'tcp', 'network.protocol.name': 'http' };
  if (protocolVersion !== undefined) attributes['mcp.protocol.version'] = protocolVersion;
  if (method === 'tools/call' && target !== undefined) {
    attributes['gen_ai.tool.name'] = target;
    attributes['gen_ai.operation.name'] = 'execute_tool';
  } else if (target !== undefined) attributes['gen_ai.prompt.name'] = target;
  Object.freeze(attributes);
  if (metricCache.size >= metricCacheSize) metricCache.clear();
  metricCache.set(key, attributes);
  return attributes;
}

/** How a request ended, in the conventions' terms. */
export interface Outcome {
  /** `error.type`: the JSON-RPC error code, `tool_error` for a tool result with `isError`, or what ended it. */
  errorType?: string;
  /** `rpc.response.status_code`: the JSON-RPC error code. */
  statusCode?: string;
  /** The span status description: the JSON-RPC error message. */
  message?: string;
}

/** The outcome a response carries. */
export function outcomeOf(response: JSONRPCMessage): Outcome {
  if (response.error !== undefined) {
    const code = String(response.error.code);
    return { errorType: code, statusCode: code, message: response.error.message };
  }
  const result = response.result as { isError?: unknown } | undefined;
  if (result?.isError === true) return { errorType: 'tool_error' };
  return {};
}

/** The W3C trace context a client put in `params._meta` (SEP-414: unprefixed keys), when it did. */
export function metaCarrier(message: JSONRPCMessage): Record<string, unknown> | undefined {
  const meta = (message.params as { _meta?: unknown } | undefined)?._meta;
  if (typeof meta !== 'object' || meta === null) return undefined;
  return typeof (meta as Record<string, unknown>).traceparent === 'string' ? (meta as Record<string, unknown>) : undefined;
}

/** `session` metric attributes: what the conventions list for `mcp.server.session.duration`. */
export function sessionAttributes(protocolVersion: string | undefined): Attributes {
  return protocolVersion === undefined ? { ...networkAttributes } : { 'mcp.protocol.version': protocolVersion, ...networkAttributes };
}
