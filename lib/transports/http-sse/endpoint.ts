// Builds the data of the `endpoint` event: where this session's client POSTs its messages.
import type { Request } from 'express';

export interface EndpointOptions {
  messagesPath: string;
  publicBaseUrl: string | undefined;
  /** Query parameters of the GET never copied into the endpoint (credentials, resume ids). */
  privateParams: ReadonlySet<string>;
}

/**
 * `{mount prefix or publicBaseUrl}{messagesPath}?{query}` where the query keeps the base URL's own parameters
 * and the opening GET's (minus private ones), with `sessionId` set last.
 */
export function endpointUrl(req: Request, options: EndpointOptions, sessionId: string): string {
  const base = options.publicBaseUrl ?? req.baseUrl;
  const question = base.indexOf('?');
  const basePath = question === -1 ? base : base.slice(0, question);
  const params = new URLSearchParams(question === -1 ? '' : base.slice(question + 1));
  const url = req.originalUrl;
  const query = url.indexOf('?');
  if (query !== -1) {
    for (const [name, value] of new URLSearchParams(url.slice(query + 1))) {
      if (!options.privateParams.has(name)) params.append(name, value);
    }
  }
  params.set('sessionId', sessionId);
  return `${basePath}${options.messagesPath}?${params.toString()}`;
}
