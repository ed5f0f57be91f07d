// sendEvent() with an id of the app's own: the client still resumes from where it was, with the real eventsource.
import { afterEach, describe, expect, it } from 'vitest';
import { EventSource } from 'eventsource';
import { startHarness, sseSession, waitFor, type Harness } from './../helpers/server.js';
import { sessionIdOf } from '../helpers/sse.js';

let harness: Harness | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

describe('sendEvent with a custom id', () => {
  it('leaves the client able to resume: the events after it arrive once, on the same session', async () => {
    harness = await startHarness({ keepAliveMs: 0, retryMs: 10 });
    const h = harness;
    const source = new EventSource(h.sseUrl);
    const endpoints: string[] = [];
    const seen: string[] = [];
    const lastIds: string[] = [];
    source.addEventListener('endpoint', (event) => endpoints.push(event.data));
    source.addEventListener('custom', (event) => {
      seen.push(`custom:${event.data}`);
      lastIds.push(event.lastEventId);
    });
    source.addEventListener('message', (event) => seen.push(`message:${JSON.parse(event.data).params.n}`));
    try {
      await waitFor(() => endpoints.length === 1, 5000, 'the endpoint event');
      const transport = sseSession(h.router, sessionIdOf(endpoints[0]!));
      await transport.sendNotification('notifications/message', { n: 1 });
      await transport.sendEvent({ event: 'custom', data: 'hello', id: 'app-id-1' }); // the last event before the drop
      await waitFor(() => seen.length === 2, 5000, 'two events');
      expect(lastIds).toEqual(['app-id-1']); // the listener sees the app's id
      h.server.closeAllConnections(); // the connection drops; the client reconnects with its Last-Event-ID
      await waitFor(() => !transport.isAttached, 5000, 'the server to see the drop');
      await transport.sendNotification('notifications/message', { n: 2 });
      await waitFor(() => endpoints.length === 2 && seen.length === 3, 5000, 'the resumed stream');
      expect(sessionIdOf(endpoints[1]!)).toBe(transport.sessionId);
      expect(seen).toEqual(['message:1', 'custom:hello', 'message:2']);
    } finally {
      source.close();
    }
  });
});
