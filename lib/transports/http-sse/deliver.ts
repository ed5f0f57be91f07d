// Handing the messages of an HTTP+SSE POST to a session of this instance, whichever instance received the POST.
import type { Delivery, DeliveryResult } from '../../bus.js';
import type { SessionRegistry } from '../session-registry.js';
import type { MessageExtra } from '../../types.js';

/**
 * The delivery rule of the legacy transport: only an open HTTP+SSE session takes them (a Streamable HTTP session
 * could never answer them: its requests are relayed), only from its own principal, and no new request while the
 * router drains (notifications and responses still pass: a tool in flight may wait for one).
 */
export function deliverToSse(registry: SessionRegistry, sessionId: string, delivery: Delivery, draining: boolean): DeliveryResult {
  const session = registry.get(sessionId);
  if (session?.transport !== 'sse' || session.isClosed) return 'unknown';
  if (!session.accepts(delivery.principalId)) return 'forbidden';
  if (draining && delivery.messages.some((message) => message.method !== undefined && message.id !== undefined)) return 'unavailable';
  const extra: MessageExtra = {};
  if (delivery.authInfo !== undefined) extra.authInfo = delivery.authInfo;
  if (delivery.headers !== undefined) extra.requestInfo = { headers: delivery.headers };
  session.receive(delivery.messages, extra);
  return 'accepted';
}
