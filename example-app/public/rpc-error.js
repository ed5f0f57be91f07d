// Errors both transports report the same way: JSON-RPC errors, and HTTP refusals read from their error envelope.

/** A JSON-RPC error from the server, or an HTTP refusal of a request (then `status` is set). */
export class RpcError extends Error {
  /**
   * @param {string} message
   * @param {number | undefined} code
   * @param {unknown} [data]
   * @param {number} [status]  the HTTP status, for refusals
   */
  constructor(message, code, data, status) {
    super(message);
    this.name = 'RpcError';
    this.code = code;
    this.data = data;
    this.status = status;
  }
}

/** The RpcError for a response that is not ok, from the router's JSON-RPC error envelope when it sent one. */
export async function refusalOf(response) {
  const body = await response.json().catch(() => null);
  const error = body?.error;
  return new RpcError(
    error?.message ?? `HTTP ${response.status} ${response.statusText}`,
    error?.code ?? response.status,
    error?.data,
    response.status,
  );
}

/** What to tell the user about a refused connection; 401 gets advice about the API key field. */
export function explainRefusal(error, hasKey) {
  if (error.status === 401) {
    return hasKey
      ? `HTTP 401: the API key was refused. ${error.message}`
      : 'HTTP 401: this server needs an API key. Enter it above and press Connect.';
  }
  return error.status === undefined || error.message.startsWith('HTTP ') ? error.message : `HTTP ${error.status}: ${error.message}`;
}
