// gateway.envoyproxy.io/v1alpha1: Backend, BackendTrafficPolicy, ClientTrafficPolicy. These APIs are
// large; what Tollgate implements is parsed strictly, the rest of the real API is accepted as-is and
// warned about as "not enforced" (NOT_ENFORCED lists below), anything else is an unknown field.
import * as z from 'zod';
import {
  accepted,
  byteQuantity,
  duration,
  headerName,
  hostname,
  localObjectRef,
  localPolicyTargetRef,
  manifest,
  nonEmpty,
  obj,
  port,
} from './common.js';

const endpoint = obj({
  fqdn: obj({ hostname, port }).optional(),
  ip: obj({ address: nonEmpty, port }).optional(),
  unix: obj({ path: nonEmpty }).optional(),
  hostname: accepted,
  zone: accepted,
});

export const BACKEND_TLS_NOT_ENFORCED = [
  'autoSNIFromEndpointHostname',
  'clientCertificateRef',
  'minVersion',
  'maxVersion',
  'ciphers',
  'ecdhCurves',
  'signatureAlgorithms',
  'alpnProtocols',
  'fingerprints',
] as const;

const backendTls = obj({
  caCertificateRefs: z.array(localObjectRef).optional(),
  wellKnownCACertificates: z.enum(['System']).optional(),
  insecureSkipVerify: z.boolean().optional(),
  sni: hostname.optional(),
  ...Object.fromEntries(BACKEND_TLS_NOT_ENFORCED.map((k) => [k, accepted])),
});

export const BACKEND_NOT_ENFORCED = ['appProtocols', 'fallback'] as const;

export const backend = manifest(
  obj({
    type: z.enum(['Endpoints', 'DynamicResolver']).optional(),
    endpoints: z.array(endpoint).optional(),
    tls: backendTls.optional(),
    appProtocols: accepted,
    fallback: accepted,
  }),
);
export type BackendSpec = z.infer<typeof backend>['spec'];

export const RETRY_TRIGGERS = [
  '5xx',
  'gateway-error',
  'reset',
  'reset-before-request',
  'connect-failure',
  'retriable-4xx',
  'refused-stream',
  'retriable-status-codes',
  'cancelled',
  'deadline-exceeded',
  'internal',
  'resource-exhausted',
  'unavailable',
] as const;
export type RetryTrigger = (typeof RETRY_TRIGGERS)[number];

const retry = obj({
  numRetries: z.number().int().min(0).optional(),
  numAttemptsPerPriority: z.number().int().min(0).optional(),
  retryOn: obj({
    triggers: z.array(z.enum(RETRY_TRIGGERS)).optional(),
    httpStatusCodes: z.array(z.number().int().min(100).max(599)).optional(),
  }).optional(),
  perRetry: obj({
    timeout: duration.optional(),
    backOff: obj({ baseInterval: duration.optional(), maxInterval: duration.optional() }).optional(),
  }).optional(),
});
export type RetrySpec = z.infer<typeof retry>;

export const HTTP_TIMEOUT_NOT_ENFORCED = ['connectionIdleTimeout', 'maxConnectionDuration', 'maxStreamDuration'] as const;

const timeout = obj({
  tcp: obj({ connectTimeout: duration.optional() }).optional(),
  http: obj({
    requestTimeout: duration.optional(),
    streamIdleTimeout: duration.optional(),
    connectionIdleTimeout: duration.optional(),
    maxConnectionDuration: duration.optional(),
    maxStreamDuration: duration.optional(),
  }).optional(),
});

const policyTargets = {
  targetRef: localPolicyTargetRef.optional(),
  targetRefs: z.array(localPolicyTargetRef).optional(),
  targetSelectors: accepted,
};

export const BTP_NOT_ENFORCED = [
  'targetSelectors',
  'mergeType',
  'loadBalancer',
  'proxyProtocol',
  'tcpKeepalive',
  'healthCheck',
  'circuitBreaker',
  'connection',
  'dns',
  'http2',
  'bandwidthLimit',
  'faultInjection',
  'admissionControl',
  'useClientProtocol',
  'compression',
  'compressor',
  'responseOverride',
  'httpUpgrade',
  'requestBuffer',
  'telemetry',
  'routingType',
] as const;

export const RATE_LIMIT_UNITS = ['Second', 'Minute', 'Hour', 'Day', 'Week', 'Month', 'Year'] as const;

const stringMatchInvert = {
  name: headerName,
  value: z.string().max(4096).optional(),
  invert: z.boolean().optional(),
};

/** Envoy Gateway RateLimitSelectCondition (also used by QuotaPolicy bucket rules). */
export const rateLimitSelector = obj({
  headers: z.array(obj({ type: z.enum(['Exact', 'RegularExpression', 'Distinct']).optional(), ...stringMatchInvert })).optional(),
  methods: z.array(obj({ value: z.enum(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH']), invert: z.boolean().optional() })).optional(),
  path: obj({ type: z.enum(['Exact', 'PathPrefix', 'RegularExpression']).optional(), value: z.string().min(1), invert: z.boolean().optional() }).optional(),
  sourceCIDR: obj({ type: z.enum(['Exact', 'Distinct']).optional(), value: nonEmpty, invert: z.boolean().optional() }).optional(),
  queryParams: accepted,
});
export type RateLimitSelectorSpec = z.infer<typeof rateLimitSelector>;

const costSpecifier = obj({
  from: z.enum(['Number', 'Metadata']),
  number: z.number().int().min(0).optional(),
  metadata: obj({ namespace: nonEmpty, key: nonEmpty }).optional(),
});
export type CostSpecifierSpec = z.infer<typeof costSpecifier>;

const rateLimitRule = obj({
  clientSelectors: z.array(rateLimitSelector).optional(),
  limit: obj({
    requests: z.number().int().min(0).max(4294967295).optional(),
    unit: z.enum(RATE_LIMIT_UNITS).optional(),
    // Tollgate extension: in-flight requests per bucket (protects KV-cache memory in agent bursts).
    maxConcurrent: z.number().int().min(1).optional(),
    fromMetadata: accepted,
  }),
  cost: obj({ request: costSpecifier.optional(), response: costSpecifier.optional() }).optional(),
  shared: z.boolean().optional(),
  shadowMode: z.boolean().optional(),
  xRateLimitHeaders: z.enum(['Off', 'DraftVersion03']).optional(),
});
export type RateLimitRuleSpec = z.infer<typeof rateLimitRule>;

const rateLimit = obj({
  type: z.enum(['Global', 'Local']).optional(),
  global: obj({ rules: z.array(rateLimitRule), shared: accepted }).optional(),
  local: obj({ rules: z.array(rateLimitRule).optional() }).optional(),
});
export type RateLimitSpec = z.infer<typeof rateLimit>;

export const backendTrafficPolicy = manifest(
  obj({
    ...policyTargets,
    retry: retry.optional(),
    timeout: timeout.optional(),
    rateLimit: rateLimit.optional(),
    ...Object.fromEntries(BTP_NOT_ENFORCED.filter((k) => k !== 'targetSelectors').map((k) => [k, accepted])),
  }),
);
export type BackendTrafficPolicySpec = z.infer<typeof backendTrafficPolicy>['spec'];

export const CTP_NOT_ENFORCED = [
  'targetSelectors',
  'tcpKeepalive',
  'enableProxyProtocol',
  'proxyProtocol',
  'clientIPDetection',
  'tls',
  'path',
  'headers',
  'timeout',
  'http1',
  'http2',
  'http3',
  'grpc',
  'healthCheck',
  'scheme',
] as const;

export const CTP_CONNECTION_NOT_ENFORCED = ['connectionLimit', 'socketBufferLimit', 'maxAcceptPerSocketEvent'] as const;

export const clientTrafficPolicy = manifest(
  obj({
    ...policyTargets,
    connection: obj({
      bufferLimit: byteQuantity.optional(),
      ...Object.fromEntries(CTP_CONNECTION_NOT_ENFORCED.map((k) => [k, accepted])),
    }).optional(),
    ...Object.fromEntries(CTP_NOT_ENFORCED.filter((k) => k !== 'targetSelectors').map((k) => [k, accepted])),
  }),
);
export type ClientTrafficPolicySpec = z.infer<typeof clientTrafficPolicy>['spec'];
