// router.wellKnown: serves RFC 9728 protected-resource metadata for each oauthStrategy's resource, so MCP clients
// find the authorization server from a 401 by themselves. Mounted at the app root; every other request passes on.
import type { RequestHandler } from 'express';
import type { Strategy } from 'passport';
import { hintsOf, type ProtectedResource } from '../auth/hints.js';
import { problems, replyError } from './reply.js';
import { optionError } from '../errors.js';

/** Metadata is public and changes with a deploy at most: caches may keep it an hour. */
const cacheControl = 'public, max-age=3600';
/** RFC 9728 §3: where a resource's metadata lives, followed by the resource's path. */
const metadataRoot = '/.well-known/oauth-protected-resource';
const allow = 'GET, HEAD, OPTIONS';
const corsHeaders = {
  'Access-Control-Allow-Origin': '*',
  'Access-Control-Allow-Methods': allow,
  // SDK clients send MCP-Protocol-Version on discovery requests; `*` covers it (no credentials are involved).
  'Access-Control-Allow-Headers': '*',
  'Access-Control-Max-Age': '86400',
};

/**
 * The middleware behind `router.wellKnown`. Strategies for the same resource (several authorization servers) share
 * one document listing each server; two different resources at the same metadata path are a `TypeError`.
 */
export function createWellKnown(strategies: Strategy[]): RequestHandler {
  const documents = new Map<string, { body: string; length: string }>();
  for (const [path, resources] of groupByPath(strategies)) {
    const [first] = resources;
    const clash = resources.find((r) => r.resource !== first!.resource);
    if (clash !== undefined) {
      throw optionError(
        `oauthStrategy resources ${JSON.stringify(first!.resource)} and ${JSON.stringify(clash.resource)} share the metadata path ${path}: use one resource identifier per path.`,
      );
    }
    const document: Record<string, unknown> = {
      resource: first!.resource,
      authorization_servers: unique(resources.map((r) => r.authorizationServer)),
      bearer_methods_supported: ['header'],
    };
    const scopes = unique(resources.flatMap((r) => r.scopes));
    if (scopes.length > 0) document.scopes_supported = scopes;
    const resourceName = resources.find((r) => r.resourceName !== undefined)?.resourceName;
    if (resourceName !== undefined) document.resource_name = resourceName;
    const body = JSON.stringify(document);
    documents.set(path, { body, length: String(Buffer.byteLength(body)) });
  }

  // Clients that got no `resource_metadata` (a proxy dropped the header, a legacy SSE client ignores it) derive the
  // URL from the one they connected to: `/.well-known/oauth-protected-resource/mcp/sse`, then the bare root path.
  // With one resource both can only mean it, and SDK clients accept it (it is a path prefix of their URL).
  const single = documents.size === 1 ? [...documents][0]! : undefined;
  const probed = (path: string) => (single !== undefined && (path === metadataRoot || path.startsWith(`${single[0]}/`)) ? single[1] : undefined);

  return (req, res, next) => {
    if (documents.size === 0) return next();
    const document = documents.get(req.path) ?? probed(req.path);
    if (document === undefined) return next();
    if (req.method === 'OPTIONS') {
      res.writeHead(204, { ...corsHeaders, Allow: allow }).end();
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      replyError(res, { ...problems.methodNotAllowed(allow), headers: { Allow: allow, 'Access-Control-Allow-Origin': '*' } });
      return;
    }
    res.writeHead(200, {
      'Content-Type': 'application/json; charset=utf-8',
      'Content-Length': document.length,
      'Cache-Control': cacheControl,
      'Access-Control-Allow-Origin': '*',
    });
    res.end(req.method === 'HEAD' ? undefined : document.body);
  };
}

function groupByPath(strategies: Strategy[]): Map<string, ProtectedResource[]> {
  const groups = new Map<string, ProtectedResource[]>();
  for (const strategy of strategies) {
    const resource = hintsOf(strategy)?.protectedResource;
    if (resource === undefined) continue;
    groups.set(resource.metadataPath, [...(groups.get(resource.metadataPath) ?? []), resource]);
  }
  return groups;
}

const unique = (values: string[]): string[] => [...new Set(values)];
