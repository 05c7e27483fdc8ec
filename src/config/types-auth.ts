// Client authentication and authorization as compiled from Envoy Gateway SecurityPolicies: API keys
// (stored as salted digests), JWT providers with their key sets, and authorization rules.
import type { CidrMatch, PathSelector } from './types-limits.js';
import type { SourceRef } from './types.js';

/** Where a client credential is read from. Query parameters are not supported: URLs end up in logs. */
export type CredentialSource =
  | { readonly from: 'header'; readonly name: string; readonly prefix: string }
  | { readonly from: 'cookie'; readonly name: string };

/** A client of `apiKeyAuth`: one key of one credential Secret. */
export interface ApiKeyClient {
  /** The Secret's key name (Envoy Gateway's client id). */
  readonly clientId: string;
  /** The workload (`x-workload-app`) the key speaks for. */
  readonly workload: string;
  /** `Secret namespace/name` (or the mounted file); safe to print. */
  readonly source: string;
}

export interface ApiKeyAuthConfig {
  readonly extract: readonly CredentialSource[];
  /**
   * Keyed digest (hex HMAC-SHA256 under a per-process key, see src/auth/digest.ts) of each API key →
   * its client. Plain keys are never kept.
   */
  readonly keys: ReadonlyMap<string, ApiKeyClient>;
  readonly forwardClientIdHeader: string | undefined;
  /** `namespace/name` of the credential Secrets, for the dump. */
  readonly secrets: readonly string[];
}

export type JwksSource =
  | { readonly kind: 'local'; readonly jwks: { readonly keys: readonly Readonly<Record<string, unknown>>[] }; readonly source: string }
  | { readonly kind: 'remote'; readonly uri: string; readonly cacheDurationMs: number; readonly failedRefetchMs: number };

export interface ClaimToHeader {
  /** Lower-cased header name. */
  readonly header: string;
  /** Claim path, split on dots (`org.team` → ['org', 'team']). */
  readonly claim: readonly string[];
}

export interface JwtProviderConfig {
  readonly name: string;
  readonly issuer: string | undefined;
  readonly audiences: readonly string[];
  readonly jwks: JwksSource;
  /** Signature algorithms accepted (asymmetric only; never `none` or HMAC). */
  readonly algorithms: readonly string[];
  readonly claimToHeaders: readonly ClaimToHeader[];
  readonly extract: readonly CredentialSource[];
}

export interface JwtAuthConfig {
  /** A request without a token passes unauthenticated (an invalid token still fails). */
  readonly optional: boolean;
  /** A missing or invalid token passes unauthenticated (Envoy Gateway `failOpen`). */
  readonly failOpen: boolean;
  readonly providers: readonly JwtProviderConfig[];
  /** Claim path the workload comes from when no claimToHeaders entry sets `x-workload-app`. */
  readonly workloadClaim: readonly string[];
}

export interface JwtClaimMatch {
  readonly claim: readonly string[];
  readonly valueType: 'String' | 'StringArray';
  readonly values: ReadonlySet<string>;
}

export interface AuthorizationRuleConfig {
  /** As written; undefined when the rule has no name. */
  readonly name: string | undefined;
  readonly index: number;
  readonly action: 'Allow' | 'Deny';
  /** Empty: every method. */
  readonly methods: ReadonlySet<string>;
  readonly path: PathSelector | undefined;
  /** Any of them; empty: every client address. */
  readonly clientCIDRs: readonly CidrMatch[];
  /** All must match; each matches when the (bound) header equals one of the values. */
  readonly headers: ReadonlyArray<{ readonly name: string; readonly values: ReadonlySet<string> }>;
  readonly jwt: { readonly provider: string; readonly claims: readonly JwtClaimMatch[]; readonly scopes: readonly string[] } | undefined;
  /** Tollgate extension `operation.models`: exact names, or prefixes written `name*`. */
  readonly models: { readonly exact: ReadonlySet<string>; readonly prefixes: readonly string[] } | undefined;
  /** Tollgate extension `operation.routes`: AIGatewayRoute keys (`namespace/name`). */
  readonly routes: ReadonlySet<string> | undefined;
}

export interface AuthorizationConfig {
  /** First match wins. */
  readonly rules: readonly AuthorizationRuleConfig[];
  readonly defaultAction: 'Allow' | 'Deny';
}

/** What happens when a client-sent `x-workload-app` disagrees with its verified credential. */
export type IdentityMismatch = 'Reject' | 'Overwrite';

export interface ClientSecurityPolicy {
  /** `namespace/name`. */
  readonly key: string;
  /** `SecurityPolicy namespace/name`. */
  readonly label: string;
  readonly apiKeyAuth: ApiKeyAuthConfig | undefined;
  readonly jwt: JwtAuthConfig | undefined;
  readonly authorization: AuthorizationConfig | undefined;
  readonly identityMismatch: IdentityMismatch;
  /**
   * Digest over the policy's key material under the per-process key, so a rotated key changes the
   * config fingerprint (the watcher's signal) without the fingerprint revealing anything about keys.
   */
  readonly keysDigest: string;
  readonly source: SourceRef;
}

export interface ClientSecurityConfig {
  /** The policy that targets the Gateway: every route without a more specific one. */
  readonly gateway: ClientSecurityPolicy | undefined;
  /** Route-level policies by AIGatewayRoute key. */
  readonly routes: ReadonlyMap<string, ClientSecurityPolicy>;
  /** Rule-level policies (targetRef sectionName) by `routeKey#ruleName`. */
  readonly rules: ReadonlyMap<string, ClientSecurityPolicy>;
}
