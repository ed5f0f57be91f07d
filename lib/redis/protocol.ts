// What the Redis bus stores and publishes: key and channel names, and the encoding of every message (pure functions).
import type { IncomingHttpHeaders } from 'node:http';
import type { Delivery, DeliveryResult } from '../bus.js';
import type { AuthInfo, JSONRPCMessage } from '../types.js';

/** Key of a session's directory entry. */
export const sessionKey = (prefix: string, sessionId: string): string => `${prefix}:session:${sessionId}`;
/** Channel an instance listens on for forwarded deliveries and for acknowledgements of its own. */
export const instanceChannel = (prefix: string, instanceId: string): string => `${prefix}:instance:${instanceId}`;
/** Channel every instance listens on for broadcasts. */
export const broadcastChannel = (prefix: string): string => `${prefix}:broadcast`;

/** A directory entry: which instance holds a session, and the key (strategy and id) of the principal that opened it. */
export interface DirectoryEntry {
  instanceId: string;
  principalId: string | undefined;
}

export function encodeEntry(entry: DirectoryEntry): string {
  return JSON.stringify(entry.principalId === undefined ? { i: entry.instanceId } : { i: entry.instanceId, p: entry.principalId });
}

/** The entry, or `undefined` when the stored value is not one (another program wrote the key). */
export function decodeEntry(value: string): DirectoryEntry | undefined {
  const parsed = parseObject(value);
  if (parsed === undefined || typeof parsed.i !== 'string') return undefined;
  if (parsed.p !== undefined && typeof parsed.p !== 'string') return undefined;
  return { instanceId: parsed.i, principalId: parsed.p as string | undefined };
}

/** A delivery forwarded to the owning instance; `reply` is the sender's instance id, `id` its correlation id. */
export interface DeliverMessage {
  type: 'deliver';
  id: string;
  reply: string;
  sessionId: string;
  delivery: Delivery;
}

/** The owner's answer to a `DeliverMessage`. */
export interface AckMessage {
  type: 'ack';
  id: string;
  result: DeliveryResult;
}

export type InstanceMessage = DeliverMessage | AckMessage;

export function encodeDeliver(id: string, reply: string, sessionId: string, delivery: Delivery): string {
  const d: Record<string, unknown> = { messages: delivery.messages };
  if (delivery.principalId !== undefined) d.principalId = delivery.principalId;
  if (delivery.authInfo !== undefined) d.authInfo = delivery.authInfo;
  if (delivery.headers !== undefined) d.headers = delivery.headers;
  return JSON.stringify({ type: 'deliver', id, reply, sessionId, delivery: d });
}

export function encodeAck(id: string, result: DeliveryResult): string {
  return JSON.stringify({ type: 'ack', id, result });
}

const results = new Set<string>(['accepted', 'unknown', 'forbidden', 'unavailable']);

/** The message, or `undefined` when it is malformed. */
export function decodeInstanceMessage(value: string): InstanceMessage | undefined {
  const m = parseObject(value);
  if (m === undefined || typeof m.id !== 'string') return undefined;
  if (m.type === 'ack') {
    return typeof m.result === 'string' && results.has(m.result) ? { type: 'ack', id: m.id, result: m.result as DeliveryResult } : undefined;
  }
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
    delivery: {
      messages: d.messages as JSONRPCMessage[],
      principalId: d.principalId as string | undefined,
      authInfo: d.authInfo as AuthInfo | undefined,
      ...(d.headers === undefined ? {} : { headers: d.headers as IncomingHttpHeaders }),
    },
  };
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
