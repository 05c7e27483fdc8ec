// aigateway.envoyproxy.io: AIGatewayRoute, AIServiceBackend, BackendSecurityPolicy. Field names and
// enums follow Envoy AI Gateway's api/v1beta1 (and v1alpha1, which differs only in legacy fields).
import * as z from 'zod';
import {
  accepted,
  bodyMutation,
  duration,
  headerMutation,
  headerName,
  localPolicyTargetRef,
  manifest,
  namespaceName,
  nonEmpty,
  obj,
  objectName,
  rfc3339Seconds,
  secretObjectRef,
  wildcardHostname,
} from './common.js';
import { compileHeaderRegex } from '../units.js';
import { rateLimitSelector } from './envoygateway.js';

export const API_SCHEMA_NAMES = [
  'OpenAI',
  'Cohere',
  'AWSBedrock',
  'AzureOpenAI',
  'GCPVertexAI',
  'GCPAnthropic',
  'Anthropic',
  'AWSAnthropic',
  // Tollgate extension: the Gemini API (generativelanguage.googleapis.com) with an API key, as
  // opposed to GCPVertexAI (the same generateContent API on Vertex AI, with OAuth2).
  'GeminiAPI',
] as const;

export const LLM_COST_TYPES = [
  'OutputToken',
  'InputToken',
  'CachedInputToken',
  'CacheCreationInputToken',
  'TotalToken',
  'ReasoningToken',
  'CEL',
] as const;

const parentRef = obj({
  group: z.string().optional(),
  kind: z.string().optional(),
  namespace: namespaceName.optional(),
  name: objectName,
  sectionName: z.string().optional(),
  port: z.number().int().optional(),
});

const headerMatch = obj({
  type: z.enum(['Exact', 'RegularExpression']).optional(),
  name: headerName,
  value: z.string().max(4096),
}).check(
  z.superRefine((h, ctx) => {
    if (h.type !== 'RegularExpression') return;
    const r = compileHeaderRegex(h.value);
    if ('error' in r) {
      ctx.addIssue({
        code: 'custom',
        path: ['value'],
        message: `invalid regular expression "${h.value}": ${r.error}`,
        params: { hint: 'the whole header value must match; e.g. `gpt-4o.*` or `(llama|mistral)-.*`' },
      });
    }
  }),
);

const routeBackendRef = obj({
  name: objectName,
  namespace: namespaceName.optional(),
  group: z.string().optional(),
  kind: z.string().optional(),
  modelNameOverride: z.string().optional(),
  headerMutation: headerMutation.optional(),
  bodyMutation: bodyMutation.optional(),
  weight: z.number().int().min(0).max(1_000_000).optional(),
  priority: z.number().int().min(0).optional(),
});

const rule = obj({
  name: z.string().min(1).max(253).optional(),
  backendRefs: z.array(routeBackendRef).optional(),
  matches: z.array(obj({ headers: z.array(headerMatch).optional() })).optional(),
  timeouts: obj({ request: duration.optional(), backendRequest: duration.optional() }).optional(),
  streamIdleTimeout: duration.optional(),
  modelsOwnedBy: z.string().optional(),
  modelsCreatedAt: rfc3339Seconds.optional(),
});

const llmRequestCost = obj({
  metadataKey: nonEmpty,
  type: z.enum(LLM_COST_TYPES),
  cel: z.string().optional(),
});

const routeSpecBeta = {
  parentRefs: z.array(parentRef).optional(),
  hostnames: z.array(wildcardHostname).optional(),
  rules: z.array(rule),
  llmRequestCosts: z.array(llmRequestCost).optional(),
};

const REMOVED_IN_BETA = {
  schema: 'spec.schema was removed from AIGatewayRoute (the input schema is always OpenAI); delete it',
  targetRefs: 'spec.targetRefs was replaced by spec.parentRefs (name the Gateway there)',
};

export const aiGatewayRouteV1beta1 = manifest(obj(routeSpecBeta, REMOVED_IN_BETA));
export const aiGatewayRouteV1alpha1 = manifest(
  obj({
    ...routeSpecBeta,
    // Deprecated in v0.3 and removed in v0.4; accepted with a warning so old manifests still load.
    schema: accepted,
    targetRefs: z.array(localPolicyTargetRef).optional(),
  }),
);

export type AIGatewayRouteSpec = z.infer<typeof aiGatewayRouteV1alpha1>['spec'];
export type RuleSpec = AIGatewayRouteSpec['rules'][number];
export type RouteBackendRefSpec = NonNullable<RuleSpec['backendRefs']>[number];
export type HeaderMatchSpec = NonNullable<NonNullable<RuleSpec['matches']>[number]['headers']>[number];

const aiServiceBackendSpec = obj(
  {
    schema: obj({
      name: z.enum(API_SCHEMA_NAMES),
      version: z.string().optional(),
      prefix: z.string().optional(),
    }),
    backendRef: obj({
      name: objectName,
      namespace: namespaceName.optional(),
      group: z.string().optional(),
      kind: z.string().optional(),
      port: z.number().int().optional(),
    }),
    headerMutation: headerMutation.optional(),
    bodyMutation: bodyMutation.optional(),
    // Not in the CRD, but Envoy AI Gateway's own aigw/ollama.yaml example sets it.
    timeouts: obj({ request: duration.optional() }).optional(),
  },
  { backendSecurityPolicyRef: 'removed from the API: attach credentials with a BackendSecurityPolicy whose targetRefs name this backend' },
);

export const aiServiceBackend = manifest(aiServiceBackendSpec);
export type AIServiceBackendSpec = z.infer<typeof aiServiceBackend>['spec'];

const secretRefHolder = obj({ secretRef: secretObjectRef });

export const BSP_TYPES = ['APIKey', 'AWSCredentials', 'AzureAPIKey', 'AzureCredentials', 'GCPCredentials', 'AnthropicAPIKey'] as const;

const bspShape = {
  targetRefs: z.array(localPolicyTargetRef).optional(),
  type: z.enum(BSP_TYPES),
  apiKey: secretRefHolder.optional(),
  azureAPIKey: secretRefHolder.optional(),
  anthropicAPIKey: secretRefHolder.optional(),
  awsCredentials: obj({
    region: nonEmpty,
    credentialsFile: obj({ secretRef: secretObjectRef, profile: z.string().min(1).optional() }).optional(),
    oidcExchangeToken: accepted,
  }).optional(),
  azureCredentials: obj({
    clientID: nonEmpty,
    tenantID: nonEmpty,
    clientSecretRef: secretObjectRef.optional(),
    oidcExchangeToken: accepted,
  }).optional(),
  gcpCredentials: obj({
    projectName: nonEmpty.optional(),
    region: nonEmpty.optional(),
    credentialsFile: obj({ secretRef: secretObjectRef }).optional(),
    workloadIdentityFederationConfig: accepted,
    isPassthrough: z.boolean().optional(),
  }).optional(),
};

const credentialOverride = obj({
  fromRequestHeaders: obj({ header: z.string().min(1).max(256).optional(), fallbackToConfigured: z.boolean().optional() }).optional(),
  fromDynamicMetadata: accepted,
});

export const backendSecurityPolicyV1beta1 = manifest(obj({ ...bspShape, credentialOverride: credentialOverride.optional() }));
export const backendSecurityPolicyV1alpha1 = manifest(obj(bspShape));
export type BackendSecurityPolicySpec = z.infer<typeof backendSecurityPolicyV1beta1>['spec'];

// QuotaPolicy (aigateway.envoyproxy.io/v1alpha1): token quotas per model on AIServiceBackends.
export const QUOTA_DURATIONS = ['1s', '1m', '1h', '1d'] as const;
const quotaValue = obj({ limit: z.number().int().min(0), duration: z.enum(QUOTA_DURATIONS) });
const quotaDefinition = obj({
  costExpression: z.string().min(1).optional(),
  mode: z.enum(['Shared']).optional(),
  defaultBucket: quotaValue.optional(),
  bucketRules: z.array(obj({ clientSelectors: z.array(rateLimitSelector).optional(), quota: quotaValue, shadowMode: z.boolean().optional() })).optional(),
});
export const quotaPolicy = manifest(
  obj({
    targetRefs: z.array(localPolicyTargetRef).optional(),
    serviceQuota: obj({ costExpression: z.string().min(1).optional(), quota: quotaValue }).optional(),
    perModelQuotas: z.array(obj({ modelName: nonEmpty, quota: quotaDefinition })).optional(),
  }),
);
export type QuotaPolicySpec = z.infer<typeof quotaPolicy>['spec'];
