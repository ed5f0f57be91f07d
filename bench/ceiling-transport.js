// bench/ceiling-transport.js: the smallest correct SSE server transport, the lower bound of what a transport costs.
import { randomUUID } from 'node:crypto';

/**
 * Structurally an SDK `Transport`: `start` writes the SSE headers and the `endpoint` event, `send` writes one
 * `message` event (waiting for `drain` when the socket buffer is full), `close` ends the stream.
 */
export class CeilingTransport {
  constructor(endpoint, res) {
    this.sessionId = randomUUID();
    this.res = res;
    this.endpoint = `${endpoint}?sessionId=${this.sessionId}`;
    this.closed = false;
    this.onmessage = undefined;
    this.onclose = undefined;
    this.onerror = undefined;
    res.on('close', () => this.#closed());
  }

  async start() {
    this.res.writeHead(200, {
      'Content-Type': 'text/event-stream',
      'Cache-Control': 'no-cache, no-transform',
      Connection: 'keep-alive',
    });
    this.res.socket?.setNoDelay(true);
    this.res.write(`event: endpoint\ndata: ${this.endpoint}\n\n`);
  }

  send(message) {
    if (this.closed) return Promise.reject(new Error('Not connected'));
    if (this.res.write(`event: message\ndata: ${JSON.stringify(message)}\n\n`)) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        this.res.off('drain', done);
        this.res.off('close', done);
        resolve();
      };
      this.res.on('drain', done);
      this.res.on('close', done);
    });
  }

  async close() {
    this.res.end();
    this.#closed();
  }

  #closed() {
    if (this.closed) return;
    this.closed = true;
    this.onclose?.();
  }
}
