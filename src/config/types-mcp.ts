// The compiled form of MCPRoutes: what the MCP gateway (src/mcp) reads on every request. Regexes,
// secrets and metadata documents are built here once; the request path only looks things up.
import type { KeyObject } from 'node:crypto';
import type { SecretValue } from '../core/secret.js';
import type { ApiKeyAuthConfig, Endpoint, JwtAuthConfig, JwtClaimMatch, RateLimitRule, SourceRef, UpstreamTls } from './types.js';

/** MCPRoute `toolSelector`: a tool is exposed when it matches an include (or none is set) and no exclude. */
export interface McpToolFilter {
  readonly include: ReadonlySet<string> | undefined;
  readonly includeRegex: readonly RegExp[] | undefined;
  readonly exclude: ReadonlySet<string>;
  readonly excludeRegex: readonly RegExp[];
}

/** The upstream credential of one MCP server; the client's own credentials never reach it. */
export type McpUpstreamCredential =
  | { readonly in: 'header'; readonly name: string; readonly value: SecretValue }
  | { readonly in: 'query'; readonly name: string; readonly value: SecretValue };

export interface McpBackendConfig {
  /** The backendRef name: the prefix of its tools (`<name>__<tool>`) and its label in metrics. */
  readonly name: string;
  /** `namespace/name` of the Envoy Gateway Backend. */
  readonly backendKey: string;
  readonly endpoints: readonly Endpoint[];
  readonly tls: UpstreamTls | undefined;
  /** Path of the MCP endpoint on the server (default `/mcp`). */
  readonly path: string;
  readonly tools: McpToolFilter | undefined;
  readonly credential: McpUpstreamCredential | undefined;
  /** Client headers copied to this server (lower-case `from` → `to`). */
  readonly forwardHeaders: ReadonlyArray<{ readonly from: string; readonly to: string }>;
}

export interface McpAuthorizationRule {
  readonly index: number;
  readonly action: 'Allow' | 'Deny';
  /** All must be granted by the token's `scope` / `scp`. */
  readonly scopes: readonly string[];
  readonly claims: readonly JwtClaimMatch[];
  /** Undefined: every tool (and every method). Otherwise the rule only applies to these tool calls. */
  readonly tools: ReadonlyArray<{ readonly backend: string; readonly tool: string }> | undefined;
}

export interface McpAuthorizationConfig {
  readonly defaultAction: 'Allow' | 'Deny';
  /** First match wins. */
  readonly rules: readonly McpAuthorizationRule[];
}

export interface McpOAuthConfig {
  readonly jwt: JwtAuthConfig;
  /** RFC 9728 protected resource metadata, served as is. */
  readonly metadata: Readonly<Record<string, unknown>>;
  /** Paths the metadata is served at: `/.well-known/oauth-protected-resource` and that plus the route path. */
  readonly metadataPaths: readonly string[];
  readonly resource: string;
  readonly scopesSupported: readonly string[];
}

export interface McpRouteConfig {
  /** `namespace/name`. */
  readonly key: string;
  readonly name: string;
  readonly path: string;
  /** Undefined: every host. Exact names and `*.suffix` wildcards, lower-case. */
  readonly hostnames: { readonly exact: ReadonlySet<string>; readonly suffixes: readonly string[] } | undefined;
  readonly headers: ReadonlyArray<{ readonly name: string; readonly exact: string | undefined; readonly regex: RegExp | undefined }>;
  readonly backends: readonly McpBackendConfig[];
  readonly backendsByName: ReadonlyMap<string, McpBackendConfig>;
  readonly apiKeyAuth: ApiKeyAuthConfig | undefined;
  readonly oauth: McpOAuthConfig | undefined;
  readonly authorization: McpAuthorizationConfig | undefined;
  /** Record tool call arguments in the ledger (annotation `tollgate.io/mcp-ledger-arguments: "true"`). */
  readonly ledgerArguments: boolean;
  /** Deadline for one exchange with an MCP server (annotation `tollgate.io/mcp-timeout`, default 60s). */
  readonly timeoutMs: number;
  /**
   * BackendTrafficPolicy rate limits (targeting the Gateway or an HTTPRoute named like the route),
   * counted per tool call; selectors see `x-ai-eg-mcp-backend`, `x-ai-eg-mcp-tool` and `x-ai-eg-mcp-caller`.
   */
  readonly rateLimits: readonly RateLimitRule[];
  readonly source: SourceRef;
}

export interface McpConfig {
  readonly routes: readonly McpRouteConfig[];
  /** AES-256-GCM key for session ids; any replica with the same key can serve any session. */
  readonly sessionKey: KeyObject;
  /** Where the key came from (safe to print); `generated` when no key was configured. */
  readonly sessionKeySource: string;
}
