// What the Redis bus stores and publishes: key and channel names, and the encoding of every message (pure functions).
import type { IncomingHttpHeaders } from 'node:http';
import type { Delivery, DeliveryResult, RelayedRequest } from '../bus.js';
import type { AuthInfo, JSONRPCMessage } from '../types.js';

/** Key of a session's directory entry. */
export const sessionKey = (prefix: string, sessionId: string): string => `${prefix}:session:${sessionId}`;
/** Channel an instance listens on for forwarded deliveries and for acknowledgements of its own. */
export const instanceChannel = (prefix: string, instanceId: string): string => `${prefix}:instance:${instanceId}`;
/** Channel every instance listens on for broadcasts. */
export const broadcastChannel = (prefix: string): string => `${prefix}:broadcast`;

/**
 * A directory entry: which instance holds a session, the key (strategy and id) of the principal that opened it, and
 * whether that instance reads envelopes (several messages in one PUBLISH; instances from before them do not).
 */
export interface DirectoryEntry {
  instanceId: string;
  principalId: string | undefined;
  envelopes?: boolean;
}

export function encodeEntry(entry: DirectoryEntry): string {
  const e: { i: string; p?: string; e?: 1 } = { i: entry.instanceId };
  if (entry.principalId !== undefined) e.p = entry.principalId;
  if (entry.envelopes === true) e.e = 1;
  return JSON.stringify(e);
}

/** The entry, or `undefined` when the stored value is not one (another program wrote the key). */
export function decodeEntry(value: string): DirectoryEntry | undefined {
  const parsed = parseObject(value);
  if (parsed === undefined || typeof parsed.i !== 'string') return undefined;
  if (parsed.p !== undefined && typeof parsed.p !== 'string') return undefined;
  const entry: DirectoryEntry = { instanceId: parsed.i, principalId: parsed.p as string | undefined };
  if (parsed.e === 1) entry.envelopes = true;
  return entry;
}

/**
 * A delivery forwarded to the owning instance; `reply` is the sender's instance id, `id` its correlation id,
 * `envelopes` whether the sender reads envelopes (instances from before them do not say so).
 */
export interface DeliverMessage {
  type: 'deliver';
  id: string;
  reply: string;
  sessionId: string;
  delivery: Delivery;
  envelopes: boolean;
}

/** The owner's answer to a `DeliverMessage`. */
export interface AckMessage {
  type: 'ack';
  id: string;
  result: DeliveryResult;
}

/**
 * A Streamable HTTP request relayed to the owner of its session. The answer comes back in batches when the relaying
 * instance says it reads them (`batches`), else as head, chunks, end and ack (instances before batching).
 */
export interface RelayMessage {
  type: 'relay';
  id: string;
  reply: string;
  sessionId: string;
  request: RelayedRequest;
  batches: boolean;
  /** The relaying instance reads envelopes: its answers and acknowledgements may share a PUBLISH with others. */
  envelopes: boolean;
}

/** The owner's answer to a relayed request, piece by piece, on the relaying instance's channel. */
export type RelayAnswer =
  | { type: 'head'; id: string; status: number; headers: Record<string, string> }
  | { type: 'chunk'; id: string; data: string }
  | { type: 'end'; id: string; data?: string };

/**
 * What the owner has for a relayed request since its last message, in one message: the acknowledgement (first
 * batch only), the head, the frames written meanwhile (concatenated), and whether the answer ends after them.
 */
export interface RelayBatch {
  type: 'batch';
  id: string;
  result?: DeliveryResult;
  head?: { status: number; headers: Record<string, string> };
  data: string;
  end: boolean;
}

/** The relaying instance's client went away: the owner stops answering. */
export interface CancelMessage {
  type: 'cancel';
  id: string;
  from: string;
}

export type InstanceMessage = DeliverMessage | AckMessage | RelayMessage | RelayAnswer | RelayBatch | CancelMessage;

export function encodeDeliver(id: string, reply: string, sessionId: string, delivery: Delivery): string {
  const d: Record<string, unknown> = { messages: delivery.messages };
  if (delivery.principalId !== undefined) d.principalId = delivery.principalId;
  if (delivery.authInfo !== undefined) d.authInfo = delivery.authInfo;
  if (delivery.headers !== undefined) d.headers = delivery.headers;
  return JSON.stringify({ type: 'deliver', id, reply, sessionId, delivery: d, e: 1 });
}

export function encodeAck(id: string, result: DeliveryResult): string {
  return JSON.stringify({ type: 'ack', id, result });
}

export function encodeRelay(id: string, reply: string, sessionId: string, request: RelayedRequest): string {
  return JSON.stringify({ type: 'relay', id, reply, sessionId, request, b: 1, e: 1 });
}

/** Chunks are the hot path of a relayed stream: a marker, the id, a newline and the data, with no JSON around it. */
const chunkMarker = '\u0001';

export function encodeRelayAnswer(answer: RelayAnswer): string {
  return answer.type === 'chunk' ? `${chunkMarker}${answer.id}\n${answer.data}` : JSON.stringify(answer);
}

/**
 * A batch is the hot path of a relay: a marker, a small JSON header (id, result, head, end), a newline, then the
 * frames as they are, so they are neither escaped nor parsed on the way.
 */
const batchMarker = '\u0002';

export function encodeRelayBatch(batch: Omit<RelayBatch, 'type'>): string {
  // Built by hand, in the order JSON.stringify would write it: the head's headers are the same frozen object for
  // every answer of a session (often of the router), so their JSON is made once.
  let header = `{"i":${JSON.stringify(batch.id)}`;
  if (batch.result !== undefined) header += `,"r":"${batch.result}"`;
  if (batch.head !== undefined) header += `,"s":${JSON.stringify(batch.head.status)},"h":${headersJson(batch.head.headers)}`;
  if (batch.end) header += ',"e":1';
  return `${batchMarker}${header}}\n${batch.data}`;
}

/** JSON of frozen header objects, made once per object. */
const frozenHeadersJson = new WeakMap<Record<string, string>, string>();

function headersJson(headers: Record<string, string>): string {
  if (!Object.isFrozen(headers)) return JSON.stringify(headers);
  let json = frozenHeadersJson.get(headers);
  if (json === undefined) {
    json = JSON.stringify(headers);
    frozenHeadersJson.set(headers, json);
  }
  return json;
}

function decodeRelayBatch(value: string): RelayBatch | undefined {
  const newline = value.indexOf('\n');
  if (newline < 0) return undefined;
  const h = parseObject(value.slice(1, newline));
  if (h === undefined || typeof h.i !== 'string') return undefined;
  if (h.r !== undefined && !(typeof h.r === 'string' && results.has(h.r))) return undefined;
  const batch: RelayBatch = { type: 'batch', id: h.i, data: value.slice(newline + 1), end: h.e === 1 };
  if (h.r !== undefined) batch.result = h.r as DeliveryResult;
  if (h.s !== undefined || h.h !== undefined) {
    const headers = h.h as Record<string, unknown> | undefined;
    if (!Number.isInteger(h.s) || typeof headers !== 'object' || headers === null) return undefined;
    if (!Object.values(headers).every((v) => typeof v === 'string')) return undefined;
    batch.head = { status: h.s as number, headers: headers as Record<string, string> };
  }
  return batch;
}

/**
 * An envelope: several messages for one instance in one PUBLISH, each its length (in UTF-16 code units, as JS
 * counts them; UTF-8 on the way keeps them) and a colon before it. Only for instances that said they read them.
 */
const envelopeMarker = '\u0003';

export function encodeEnvelope(messages: readonly string[]): string {
  if (messages.length === 1) return messages[0]!;
  let out = envelopeMarker;
  for (const m of messages) out += `${m.length}:${m}`;
  return out;
}

/** The messages of a PUBLISH (an envelope's, or the one it is); `undefined` for a malformed envelope. */
export function openEnvelope(value: string): string[] | undefined {
  if (!value.startsWith(envelopeMarker)) return [value];
  const messages: string[] = [];
  let at = 1;
  while (at < value.length) {
    const colon = value.indexOf(':', at);
    const size = colon < 0 ? Number.NaN : Number(value.slice(at, colon));
    if (!Number.isInteger(size) || size < 0 || colon === at || colon + 1 + size > value.length) return undefined;
    messages.push(value.slice(colon + 1, colon + 1 + size));
    at = colon + 1 + size;
  }
  return messages;
}

export function encodeCancel(id: string, from: string): string {
  return JSON.stringify({ type: 'cancel', id, from });
}

const results = new Set<string>(['accepted', 'unknown', 'forbidden', 'unavailable']);
const methods = new Set<string>(['POST', 'GET', 'DELETE']);

/** The message, or `undefined` when it is malformed. */
export function decodeInstanceMessage(value: string): InstanceMessage | undefined {
  if (value.startsWith(batchMarker)) return decodeRelayBatch(value);
  if (value.startsWith(chunkMarker)) {
    const newline = value.indexOf('\n');
    return newline <= 1 ? undefined : { type: 'chunk', id: value.slice(1, newline), data: value.slice(newline + 1) };
  }
  const m = parseObject(value);
  if (m === undefined || typeof m.id !== 'string') return undefined;
  if (m.type === 'ack') {
    return typeof m.result === 'string' && results.has(m.result) ? { type: 'ack', id: m.id, result: m.result as DeliveryResult } : undefined;
  }
  if (m.type === 'head') {
    const headers = m.headers as Record<string, unknown> | undefined;
    if (!Number.isInteger(m.status) || typeof headers !== 'object' || headers === null) return undefined;
    if (!Object.values(headers).every((v) => typeof v === 'string')) return undefined;
    return { type: 'head', id: m.id, status: m.status as number, headers: headers as Record<string, string> };
  }
  if (m.type === 'end') {
    if (m.data !== undefined && typeof m.data !== 'string') return undefined;
    return m.data === undefined ? { type: 'end', id: m.id } : { type: 'end', id: m.id, data: m.data };
  }
  if (m.type === 'cancel') return typeof m.from === 'string' ? { type: 'cancel', id: m.id, from: m.from } : undefined;
  if (m.type === 'relay') return decodeRelay(m);
  if (m.type !== 'deliver' || typeof m.reply !== 'string' || typeof m.sessionId !== 'string') return undefined;
  const d = m.delivery as Record<string, unknown> | undefined;
  if (typeof d !== 'object' || d === null || !Array.isArray(d.messages)) return undefined;
  if (d.principalId !== undefined && typeof d.principalId !== 'string') return undefined;
  if (d.authInfo !== undefined && (typeof d.authInfo !== 'object' || d.authInfo === null)) return undefined;
  if (d.headers !== undefined && (typeof d.headers !== 'object' || d.headers === null)) return undefined;
  return {
    type: 'deliver',
    id: m.id,
    reply: m.reply,
    sessionId: m.sessionId,
    envelopes: m.e === 1,
    delivery: {
      messages: d.messages as JSONRPCMessage[],
      principalId: d.principalId as string | undefined,
      authInfo: reviveAuthInfo(d.authInfo as (Omit<AuthInfo, 'resource'> & { resource?: unknown }) | undefined),
      ...(d.headers === undefined ? {} : { headers: d.headers as IncomingHttpHeaders }),
    },
  };
}

function decodeRelay(m: Record<string, unknown>): RelayMessage | undefined {
  const r = m.request as Record<string, unknown> | undefined;
  if (typeof m.reply !== 'string' || typeof m.sessionId !== 'string' || typeof r !== 'object' || r === null) return undefined;
  if (typeof r.method !== 'string' || !methods.has(r.method) || !Array.isArray(r.messages) || typeof r.bytes !== 'number') return undefined;
  if (r.principalId !== undefined && typeof r.principalId !== 'string') return undefined;
  if (r.authInfo !== undefined && (typeof r.authInfo !== 'object' || r.authInfo === null)) return undefined;
  if (typeof r.headers !== 'object' || r.headers === null) return undefined;
  return {
    type: 'relay',
    id: m.id as string,
    reply: m.reply,
    sessionId: m.sessionId,
    batches: m.b === 1,
    envelopes: m.e === 1,
    request: {
      method: r.method as RelayedRequest['method'],
      ...(r.transport === 'sse' ? { transport: 'sse' as const } : {}),
      messages: r.messages as JSONRPCMessage[],
      bytes: r.bytes,
      principalId: r.principalId as string | undefined,
      authInfo: r.authInfo as AuthInfo | undefined,
      headers: r.headers as IncomingHttpHeaders,
    },
  };
}

/** JSON turned `authInfo.resource` (a URL, from oauthStrategy) into its string: tools on this instance get a URL again. */
function reviveAuthInfo(authInfo: (Omit<AuthInfo, 'resource'> & { resource?: unknown }) | undefined): AuthInfo | undefined {
  if (authInfo === undefined || typeof authInfo.resource !== 'string') return authInfo as AuthInfo | undefined;
  const { resource, ...rest } = authInfo;
  return URL.canParse(resource) ? { ...rest, resource: new URL(resource) } : (rest as AuthInfo);
}

/** A broadcast is the sender's instance id, a newline, then the serialised notification (instance ids hold no whitespace). */
export function encodeBroadcast(instanceId: string, json: string): string {
  return `${instanceId}\n${json}`;
}

export function decodeBroadcast(value: string): { from: string; json: string } | undefined {
  const newline = value.indexOf('\n');
  if (newline <= 0) return undefined;
  return { from: value.slice(0, newline), json: value.slice(newline + 1) };
}

function parseObject(value: string): Record<string, unknown> | undefined {
  try {
    const parsed: unknown = JSON.parse(value);
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
