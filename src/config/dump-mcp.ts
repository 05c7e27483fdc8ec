// MCPRoutes as plain data for /config_dump and the fingerprint. Credentials appear only as where
// they came from; the session key only as its source.
import { createHash } from 'node:crypto';
import { setDigest } from '../auth/digest.js';
import type { McpConfig, McpRouteConfig } from './types-mcp.js';

export function mcpDump(mcp: McpConfig | undefined): Record<string, unknown> | null {
  if (mcp === undefined) return null;
  return { sessionKey: `<redacted: ${mcp.sessionKeySource}>`, routes: mcp.routes.map(routeDump) };
}

function routeDump(r: McpRouteConfig): Record<string, unknown> {
  return {
    key: r.key,
    path: r.path,
    hostnames: r.hostnames === undefined ? null : [...r.hostnames.exact, ...r.hostnames.suffixes.map((s) => `*${s}`)],
    backends: r.backends.map((b) => ({
      name: b.name,
      backend: b.backendKey,
      endpoints: b.endpoints.map((e) => `${e.host}:${e.port}`),
      tls: b.tls !== undefined,
      path: b.path,
      toolSelector:
        b.tools === undefined
          ? null
          : {
              include: b.tools.include === undefined ? null : [...b.tools.include],
              includeRegex: b.tools.includeRegex?.map((x) => x.source) ?? null,
              exclude: [...b.tools.exclude],
              excludeRegex: b.tools.excludeRegex.map((x) => x.source),
            },
      credential: b.credential === undefined ? null : { in: b.credential.in, name: b.credential.name, value: b.credential.value.toString() },
      forwardHeaders: b.forwardHeaders,
    })),
    apiKeyAuth: r.apiKeyAuth === undefined ? null : { secrets: r.apiKeyAuth.secrets, clients: r.apiKeyAuth.keys.size },
    oauth: r.oauth === undefined ? null : { metadata: r.oauth.metadata, audiences: r.oauth.jwt.providers[0]?.audiences ?? [] },
    authorization:
      r.authorization === undefined
        ? null
        : {
            defaultAction: r.authorization.defaultAction,
            rules: r.authorization.rules.map((x) => ({ action: x.action, scopes: x.scopes, claims: x.claims.map((c) => ({ claim: c.claim.join('.'), values: [...c.values] })), tools: x.tools ?? null })),
          },
    ledgerArguments: r.ledgerArguments,
    timeoutMs: r.timeoutMs,
    rateLimits: r.rateLimits.map((x) => x.id),
  };
}

/** Changes when anything MCP changes, including rotated keys (through keyed digests only). */
export function mcpHash(mcp: McpConfig | undefined): string {
  if (mcp === undefined) return '';
  const keys: string[] = [mcp.sessionKey.export().toString('hex')];
  for (const r of mcp.routes) {
    for (const b of r.backends) if (b.credential !== undefined) keys.push(`${r.key}/${b.name}=${b.credential.value.reveal()}`);
    if (r.apiKeyAuth !== undefined) keys.push(...r.apiKeyAuth.keys.keys());
  }
  return createHash('sha256').update(JSON.stringify(mcpDump(mcp))).update(setDigest(keys)).digest('hex');
}
