// The compiled, frozen runtime configuration: what the data plane reads. Everything here was
// validated and resolved at compile time (durations in ms, regexes compiled, references resolved,
// secrets loaded), so the request path trusts it and compiles nothing.
import type { SecretValue } from '../core/secret.js';
import type { EncodingName } from '../tokenizer/index.js';
import type { ClientSecurityConfig } from './types-auth.js';
import type { CostFunction, ModelQuota, RateLimitRule } from './types-limits.js';
import type { McpConfig } from './types-mcp.js';

export type * from './types-auth.js';
export type * from './types-limits.js';

/** Where a manifest value came from, for messages that point at the user's file. */
export interface SourceRef {
  readonly file: string;
  readonly line: number;
  readonly column: number;
}

export type Severity = 'error' | 'warning';

export interface Diagnostic {
  readonly severity: Severity;
  readonly file: string;
  /** 1-based; 0 when the problem has no single place (e.g. a missing file). */
  readonly line: number;
  readonly column: number;
  /** `Kind namespace/name` of the resource, when the problem is inside one. */
  readonly resource: string | undefined;
  /** Dotted path inside the resource, e.g. `spec.rules[0].backendRefs[1].name`. */
  readonly path: string | undefined;
  readonly message: string;
  readonly hint: string | undefined;
}

export type HeaderMatchType = 'Exact' | 'RegularExpression';

export interface HeaderMatch {
  /** Lower-cased header name. */
  readonly name: string;
  readonly type: HeaderMatchType;
  readonly value: string;
  /** Compiled, anchored (Gateway API: the whole value must match) for RegularExpression. */
  readonly regex: RegExp | undefined;
}

export interface RouteMatch {
  /** ANDed. An empty list matches every request. */
  readonly headers: readonly HeaderMatch[];
}

export interface HeaderMutation {
  /** [lower-cased name, value] pairs to set (replacing any existing value). */
  readonly set: ReadonlyArray<readonly [string, string]>;
  /** Lower-cased names to remove. */
  readonly remove: readonly string[];
}

export interface BodyMutation {
  /** Top-level JSON fields to set, values already parsed from their JSON text. */
  readonly set: ReadonlyArray<readonly [string, unknown]>;
  readonly remove: readonly string[];
}

export type ApiSchemaName =
  | 'OpenAI'
  | 'AzureOpenAI'
  | 'AWSBedrock'
  | 'AWSAnthropic'
  | 'GCPVertexAI'
  | 'GCPAnthropic'
  | 'Anthropic'
  | 'Cohere'
  | 'GeminiAPI';

export interface ApiSchema {
  readonly name: ApiSchemaName;
  readonly version: string | undefined;
  /** Path prefix for OpenAI-schema backends (Envoy AI Gateway default `/v1`). Never ends with `/`. */
  readonly prefix: string;
}

export interface Endpoint {
  readonly kind: 'fqdn' | 'ip';
  readonly host: string;
  readonly port: number;
}

export interface UpstreamTls {
  /** SNI and the name the certificate must match; undefined means the endpoint's host. */
  readonly servername: string | undefined;
  /** PEM bundle to trust instead of the system CAs; undefined means the system CAs. */
  readonly ca: string | undefined;
  readonly insecureSkipVerify: boolean;
}

export type BackendSecurityPolicyType = 'APIKey' | 'AzureAPIKey' | 'AnthropicAPIKey' | 'AWSCredentials' | 'GCPCredentials' | 'AzureCredentials';

/** BackendSecurityPolicy `credentialOverride.fromRequestHeaders`: a per-request credential. */
export interface CredentialOverride {
  /** Lower-cased header name; for AWSCredentials the prefix of `access-key-id`, `secret-access-key`, `session-token`. */
  readonly header: string;
  /** When the header is absent: use the configured credential (true) or answer 401 (false). */
  readonly fallbackToConfigured: boolean;
}

/** A bearer token fetched and refreshed in the background (GCP service account, Azure client secret). */
export interface AccessTokenSource {
  /** The current token, or undefined before the first fetch or once it expired. Never waits. */
  current(): string | undefined;
  /** Resolves once a token is available (starting a fetch when none runs); rejects saying why not. */
  whenReady(): Promise<void>;
}

export interface AwsKeys {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken: string | undefined;
}

/** AWS keys: static (a credentials file, the environment) or refreshed (web identity, container). */
export interface AwsKeySource {
  current(): AwsKeys | undefined;
  whenReady(): Promise<void>;
}

interface CredentialCommon {
  readonly policy: BackendSecurityPolicyType;
  /**
   * Lower-cased header the credential goes in: `authorization`, `api-key`, `x-api-key` or
   * `x-goog-api-key`.
   */
  readonly header: string;
  /**
   * The secret material: the full header value for `header` credentials (e.g. `Bearer sk-…`); the
   * credentials file, service-account JSON or client secret otherwise (so a changed secret reloads).
   */
  readonly value: SecretValue;
  /** `BackendSecurityPolicy namespace/name`. */
  readonly policyName: string;
  readonly override?: CredentialOverride | undefined;
}

/** How the gateway authenticates to a backend. A closed set; providers add variants. */
export type UpstreamCredential =
  | (CredentialCommon & { readonly kind: 'header' })
  | (CredentialCommon & {
      readonly kind: 'aws-sigv4';
      readonly region: string;
      /** SigV4 signing name (`bedrock`). */
      readonly service: string;
      readonly keys: AwsKeySource;
    })
  | (CredentialCommon & {
      readonly kind: 'bearer-token';
      readonly tokens: AccessTokenSource;
      /** GCPCredentials: the project and region Vertex AI paths name. */
      readonly gcp: { readonly project: string; readonly region: string } | undefined;
    });

export interface RetryPolicy {
  /** Further attempts after the first (Envoy `numRetries`). */
  readonly numRetries: number;
  /**
   * Attempts per priority level before falling to the next one. Always ≥ 1. A BackendTrafficPolicy
   * retry without `numAttemptsPerPriority` gets `numRetries + 1` (Envoy: every attempt stays on the
   * highest priority).
   */
  readonly attemptsPerPriority: number;
  readonly onConnectFailure: boolean;
  /** A reset or timeout before the first response byte. */
  readonly onReset: boolean;
  /** Response statuses that count as a failure to retry (before any byte went to the client). */
  readonly retriableStatuses: ReadonlySet<number>;
  readonly backoffBaseMs: number;
  readonly backoffMaxMs: number;
  /** Per-attempt deadline; undefined means only the request deadline applies. */
  readonly perTryTimeoutMs: number | undefined;
}

export interface BackendConfig {
  /** `namespace/name` of the AIServiceBackend. */
  readonly key: string;
  readonly name: string;
  readonly namespace: string;
  readonly schema: ApiSchema;
  /** `namespace/name` of the referenced Envoy Gateway Backend. */
  readonly endpointsKey: string;
  readonly endpoints: readonly Endpoint[];
  readonly tls: UpstreamTls | undefined;
  readonly credential: UpstreamCredential | undefined;
  readonly headerMutation: HeaderMutation;
  readonly bodyMutation: BodyMutation;
  /** AIServiceBackend-level request timeout, if set. */
  readonly requestTimeoutMs: number | undefined;
  readonly connectTimeoutMs: number;
  /** The gateway's own token counting encoding (annotation `tollgate.io/tokenizer`); undefined: by model name. */
  readonly tokenizer?: EncodingName | undefined;
  /** POST /v1/responses is passed through (annotation `tollgate.io/responses-api: native`), not translated to chat. */
  readonly nativeResponses?: boolean | undefined;
  /** Set when this backend is an InferencePool: its endpoints are picked per request (upstream/pool). */
  readonly pool?: InferencePoolConfig | undefined;
  readonly source: SourceRef;
}

/** What a CEL expression over the request sees; fields may be lazy getters. */
export interface RequestView {
  /** Lower-cased header names; repeated headers joined with ", ". */
  readonly headers: Readonly<Record<string, string>>;
  /** The request line's method, and its target with the query string (Envoy's `request.path`). */
  readonly method: string;
  readonly path: string;
  /** The JSON body's top-level `model` and `user` strings, "" when absent. */
  readonly model: string;
  readonly user: string;
}

/** A key computed from the request; undefined when there is none (empty, or the expression failed). */
export type RequestKeyFunction = (view: RequestView) => string | undefined;

/** How a request chooses among an InferencePool's endpoints. */
export type PickStrategy = 'picker' | 'round-robin' | 'least-request';

/** Scorer names, as the endpoint picker reports them (metric label `scorer`, debug header). */
export type ScorerName = 'queue' | 'kv-cache' | 'prefix-cache' | 'prefill';

/** An InferencePool's endpoints and its built-in endpoint picker's settings (annotations `tollgate.io/…`). */
export interface InferencePoolConfig {
  /** `namespace/name` of the InferencePool. */
  readonly key: string;
  readonly strategy: PickStrategy;
  /** Host names are resolved in the background; one that has several A records becomes several endpoints. */
  readonly endpoints: readonly Endpoint[];
  /** DNS servers ("ip" or "ip:port") that resolve the endpoints' host names; empty: the system resolver. */
  readonly dnsServers: readonly string[];
  readonly metricsPath: string;
  readonly scrapeIntervalMs: number;
  /** Scraped metrics older than this count for nothing (the in-flight count still does). */
  readonly staleAfterMs: number;
  readonly weights: Readonly<Record<ScorerName, number>>;
  /** A replica with this many waiting requests (scraped), or this much KV cache in use, is filtered out while others are not. */
  readonly queueThreshold: number;
  readonly kvCacheThreshold: number;
  readonly prefixBlockBytes: number;
  readonly prefixMaxBlocks: number;
  readonly prefixLruPerEndpoint: number;
  /** Lower-cased header whose value keeps a session on one replica; undefined: no stickiness. */
  readonly sessionHeader: string | undefined;
  /** A CEL expression whose value keeps a session on one replica (exclusive with sessionHeader). */
  readonly sessionKeyCel: { readonly source: string; readonly evaluate: RequestKeyFunction } | undefined;
  /** Add the decision as a response header (`x-tollgate-endpoint-pick`). */
  readonly debugHeader: boolean;
}

export interface BackendRefConfig {
  readonly backend: BackendConfig;
  readonly weight: number;
  readonly priority: number;
  readonly modelNameOverride: string | undefined;
  readonly headerMutation: HeaderMutation;
  readonly bodyMutation: BodyMutation;
}

export interface RuleTimeouts {
  /**
   * Whole request, including every streamed byte (Gateway API `timeouts.request`; default 60 s, or
   * the BackendTrafficPolicy `timeout.http.requestTimeout`). 0 means no deadline (Gateway API `0s`).
   */
  readonly requestMs: number;
  /** One upstream attempt (`timeouts.backendRequest`). */
  readonly backendRequestMs: number | undefined;
  /** Longest silence from upstream, before and after the first byte (`streamIdleTimeout`, else the
   * BackendTrafficPolicy `timeout.http.streamIdleTimeout`). `0s` is undefined (no limit). */
  readonly streamIdleMs: number | undefined;
}

export interface RuleConfig {
  /** Stable identity: `namespace/route/rule-name` or `namespace/route/rule-<index>`. */
  readonly id: string;
  readonly routeKey: string;
  readonly routeName: string;
  readonly index: number;
  readonly name: string | undefined;
  /** ORed. Empty means the rule matches every request. */
  readonly matches: readonly RouteMatch[];
  readonly backendRefs: readonly BackendRefConfig[];
  readonly timeouts: RuleTimeouts;
  readonly retry: RetryPolicy;
  /** BackendTrafficPolicy rate limits that apply to requests this rule matches. */
  readonly rateLimits: readonly RateLimitRule[];
  readonly modelsOwnedBy: string;
  /** Epoch seconds, for `/v1/models`: `modelsCreatedAt`, else the route's metadata.creationTimestamp, else 0. */
  readonly modelsCreatedAt: number;
  readonly source: SourceRef;
}

export type LlmCostType =
  | 'InputToken'
  | 'CachedInputToken'
  | 'CacheCreationInputToken'
  | 'OutputToken'
  | 'ReasoningToken'
  | 'TotalToken'
  | 'CEL';

export interface LlmRequestCost {
  readonly metadataKey: string;
  readonly type: LlmCostType;
  /** CEL source, when type is CEL. */
  readonly cel: string | undefined;
  /** The cost of one request, from its usage: the token count for the type, or the CEL result. */
  readonly evaluate: CostFunction;
}

export interface RouteConfig {
  readonly key: string;
  readonly name: string;
  readonly namespace: string;
  readonly hostnames: readonly string[];
  readonly rules: readonly RuleConfig[];
  readonly llmRequestCosts: readonly LlmRequestCost[];
  readonly source: SourceRef;
}

export interface ListenerSettings {
  /** Largest request body accepted (ClientTrafficPolicy `connection.bufferLimit`; default 50 MiB). */
  readonly bodyLimitBytes: number;
}

export interface IgnoredResource {
  readonly apiVersion: string;
  readonly kind: string;
  readonly name: string;
  readonly file: string;
  readonly line: number;
  readonly reason: string;
}

export interface RuntimeConfig {
  /** Routes ordered by Gateway API precedence tie-breakers (namespace/name alphabetical). */
  readonly routes: readonly RouteConfig[];
  readonly backends: ReadonlyMap<string, BackendConfig>;
  /** QuotaPolicy quotas by AIServiceBackend key. */
  readonly quotas: ReadonlyMap<string, readonly ModelQuota[]>;
  readonly listener: ListenerSettings;
  readonly ignored: readonly IgnoredResource[];
  readonly warnings: readonly Diagnostic[];
  /** Files the config was read from (what the watcher watches). */
  readonly files: readonly string[];
  /**
   * sha256 over the redacted effective config (a hash of per-route and per-backend dump hashes, so
   * reloads only hash what changed). Secret values are redacted, so a rotated key alone does not
   * change it; the watcher still delivers such a change.
   */
  readonly fingerprint: string;
  /** SecurityPolicies (client authentication and authorization); undefined when there are none. */
  readonly security?: ClientSecurityConfig | undefined;
  /** MCPRoutes (the MCP gateway); undefined when there are none. */
  readonly mcp?: McpConfig | undefined;
}

export const DEFAULT_REQUEST_TIMEOUT_MS = 60_000;
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
export const DEFAULT_BODY_LIMIT_BYTES = 50 * 1024 * 1024;
export const DEFAULT_NAMESPACE = 'default';
