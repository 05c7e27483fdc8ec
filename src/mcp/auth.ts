// Who is calling an MCPRoute, and which tools they may use. Authentication reuses the gateway's
// apiKeyAuth and JWT verification; the MCP part is the resource-server behaviour the MCP
// authorization spec asks for: a 401 whose WWW-Authenticate points at the RFC 9728 protected
// resource metadata, audience bound to this resource, and a 403 naming the scopes a tool needs.
import type { JWTPayload } from 'jose';
import { authenticateApiKey } from '../auth/apikey.js';
import { claimMatches, scopesOf } from '../auth/authorize.js';
import type { RequestView } from '../auth/extract.js';
import { AuthFailure } from '../auth/failure.js';
import { authenticateJwt } from '../auth/jwt.js';
import type { McpRouteConfig } from '../config/types-mcp.js';
import { GatewayError } from '../core/errors.js';
import type { LiveKey } from '../keys/registry.js';
import type { VirtualKeys } from '../keys/service.js';
import { FORBIDDEN, RpcError } from './jsonrpc.js';

export interface Caller {
  /** `key:<client>`, `jwt:<sub>` or `workload:<app>` (a virtual key); undefined on a route without authentication. */
  readonly principal: string | undefined;
  /** The id of the virtual key that authenticated the call, if one did (ledger and log lines name it). */
  readonly apiKey?: string;
  readonly claims: JWTPayload | undefined;
  /** Headers the credential came from: never forwarded. */
  readonly credentialHeaders: readonly string[];
}

const ANONYMOUS: Caller = { principal: undefined, claims: undefined, credentialHeaders: [] };

/** The metadata URL clients are pointed at (RFC 9728 §5.1). */
export function metadataUrl(route: McpRouteConfig): string | undefined {
  const o = route.oauth;
  if (o === undefined) return undefined;
  const u = new URL(o.resource);
  return `${u.origin}${o.metadataPaths[0]}`;
}

/**
 * Who is calling. A virtual key (`tg-…`) authenticates the call whatever the route's own
 * authentication is, through the same check as every model request: its workload is the caller,
 * and a key that is unknown, revoked, expired or malformed is a 401 with the reason.
 */
export async function authenticate(route: McpRouteConfig, req: RequestView & { headers: Record<string, string | string[] | undefined> }, keys: VirtualKeys | undefined): Promise<Caller> {
  let key: LiveKey | undefined;
  try {
    key = keys?.bind(req.headers);
  } catch (e) {
    if (e instanceof GatewayError) throw new RpcError(-32001, e.message, e.status, undefined, { ...e.headers });
    throw e;
  }
  if (key !== undefined) return { principal: `workload:${key.doc.workload}`, claims: undefined, credentialHeaders: [], apiKey: key.id };
  if (route.apiKeyAuth === undefined && route.oauth === undefined) return ANONYMOUS;
  const credentialHeaders: string[] = [];
  let principal: string | undefined;
  let claims: JWTPayload | undefined;
  try {
    if (route.apiKeyAuth !== undefined) {
      const r = authenticateApiKey(route.apiKeyAuth, req);
      principal = `key:${r.client.clientId}`;
      if (r.header !== undefined) credentialHeaders.push(r.header);
    }
    if (route.oauth !== undefined) {
      const r = await authenticateJwt(route.oauth.jwt, req);
      if (r !== undefined) {
        claims = r.claims;
        credentialHeaders.push(...r.headers);
        principal ??= `jwt:${typeof r.claims.sub === 'string' ? r.claims.sub : ''}`;
      }
    }
  } catch (e) {
    if (e instanceof AuthFailure) throw unauthenticated(route, e);
    throw e;
  }
  return { principal, claims, credentialHeaders };
}

function unauthenticated(route: McpRouteConfig, f: AuthFailure): RpcError {
  if (f.reason === 'jwks_unavailable') return new RpcError(-32000, f.message, 503, undefined, { 'retry-after': '1' });
  const meta = metadataUrl(route);
  let challenge: string;
  if (route.oauth !== undefined && (f.scheme === 'Bearer' || route.apiKeyAuth === undefined)) {
    const parts = [`resource_metadata="${meta ?? ''}"`];
    if (f.reason !== 'missing') parts.unshift('error="invalid_token"');
    if (route.oauth.scopesSupported.length > 0) parts.push(`scope="${route.oauth.scopesSupported.join(' ')}"`);
    challenge = `Bearer ${parts.join(', ')}`;
  } else {
    challenge = 'ApiKey realm="tollgate"';
  }
  return new RpcError(-32001, f.message, 401, undefined, { 'www-authenticate': challenge });
}

export type ToolDecision = { readonly allowed: true } | { readonly allowed: false; readonly scopes: readonly string[] };

/**
 * MCPRoute authorization over one tool: the first rule whose source (scopes, claims) and target
 * (backend + tool) match decides; otherwise the default (Deny unless set). Rules only govern tools.
 */
export function authorizeTool(route: McpRouteConfig, caller: Caller, backend: string, tool: string): ToolDecision {
  const a = route.authorization;
  if (a === undefined) return { allowed: true };
  const have = caller.claims === undefined ? new Set<string>() : scopesOf(caller.claims);
  let needed: readonly string[] = [];
  for (const r of a.rules) {
    if (r.tools !== undefined && !r.tools.some((t) => t.backend === backend && t.tool === tool)) continue;
    const sourceOk =
      (r.scopes.length === 0 || r.scopes.every((s) => have.has(s))) && (r.claims.length === 0 || (caller.claims !== undefined && r.claims.every((c) => claimMatches(c, caller.claims!))));
    if (!sourceOk) {
      // The scopes of an Allow rule this tool falls under: what a client should ask for (step-up).
      if (r.action === 'Allow' && needed.length === 0) needed = r.scopes;
      continue;
    }
    return r.action === 'Allow' ? { allowed: true } : { allowed: false, scopes: [] };
  }
  return a.defaultAction === 'Allow' ? { allowed: true } : { allowed: false, scopes: needed };
}

/** The 403 for a denied tool call, with an insufficient_scope challenge when scopes would help. */
export function forbidden(route: McpRouteConfig, prefixed: string, d: { scopes: readonly string[] }): RpcError {
  const headers: Record<string, string> = {};
  if (route.oauth !== undefined && d.scopes.length > 0) {
    headers['www-authenticate'] = `Bearer error="insufficient_scope", scope="${d.scopes.join(' ')}", resource_metadata="${metadataUrl(route) ?? ''}"`;
  }
  const hint = d.scopes.length > 0 ? ` It needs the scopes: ${d.scopes.join(' ')}.` : '';
  return new RpcError(FORBIDDEN, `Forbidden: you may not call tool "${prefixed}".${hint}`, 403, undefined, headers);
}
