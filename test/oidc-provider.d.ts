// The few parts of oidc-provider (which ships no types) that the test authorization server uses.
declare module 'oidc-provider' {
  import type { IncomingMessage, ServerResponse } from 'node:http';

  export interface Configuration {
    clients?: Record<string, unknown>[];
    jwks?: { keys: Record<string, unknown>[] };
    features?: Record<string, unknown>;
    formats?: {
      customizers?: {
        jwt?: (ctx: unknown, token: unknown, jwt: { header?: Record<string, unknown>; payload: Record<string, unknown> }) => void | Promise<void>;
      };
    };
    [key: string]: unknown;
  }

  interface ClientInstance {
    clientId: string;
  }

  export default class Provider {
    constructor(issuer: string, configuration?: Configuration);
    callback(): (req: IncomingMessage, res: ServerResponse) => void;
    Client: { find(id: string): Promise<ClientInstance | undefined> };
    IdToken: new (
      claims: Record<string, unknown>,
      options: { client: ClientInstance },
    ) => { scope?: string; issue(options: { use: 'idtoken' }): Promise<string> };
  }
}
