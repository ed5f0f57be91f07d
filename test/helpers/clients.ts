// What tests do with SDK clients of either generation: notification handlers, tool results, progress.
import { Client as ClientV1 } from '@modelcontextprotocol/sdk/client/index.js';
import {
  LoggingMessageNotificationSchema,
  ResourceListChangedNotificationSchema,
  ToolListChangedNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';
import type { Client as ClientV2 } from '@modelcontextprotocol/client';

export type AnyClient = ClientV1 | ClientV2;

const schemas = {
  'notifications/message': LoggingMessageNotificationSchema,
  'notifications/resources/list_changed': ResourceListChangedNotificationSchema,
  'notifications/tools/list_changed': ToolListChangedNotificationSchema,
} as const;

/** v1 clients register notification handlers by schema, v2 clients by method name. */
export function onNotification(client: AnyClient, method: keyof typeof schemas, handler: (params: Record<string, unknown>) => void): void {
  const wrapped = (n: { params?: Record<string, unknown> }) => handler(n.params ?? {});
  if (client instanceof ClientV1) client.setNotificationHandler(schemas[method], wrapped as never);
  else (client as ClientV2).setNotificationHandler(method as never, wrapped as never);
}

/** The first text of a tool result. */
export const textOf = (result: unknown): string => (result as { content: { text: string }[] }).content[0]!.text;

/** Calls a tool with a progress callback: v1 takes (params, resultSchema, options), v2 (params, options). */
export const callWithProgress = (
  client: AnyClient,
  request: { name: string; arguments: Record<string, unknown> },
  onprogress: (p: { progress: number }) => void,
) => (client instanceof ClientV1 ? client.callTool(request, undefined, { onprogress }) : (client as ClientV2).callTool(request, { onprogress }));
