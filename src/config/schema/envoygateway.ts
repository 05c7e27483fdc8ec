// gateway.envoyproxy.io/v1alpha1: Backend, BackendTrafficPolicy, ClientTrafficPolicy. These APIs are
// large; what Tollgate implements is parsed strictly, the rest of the real API is accepted as-is and
// warned about as "not enforced" (NOT_ENFORCED lists below), anything else is an unknown field.
import * as z from 'zod';
import {
  accepted,
  byteQuantity,
  duration,
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

export const backendTrafficPolicy = manifest(
  obj({
    ...policyTargets,
    retry: retry.optional(),
    timeout: timeout.optional(),
    // The rate-limit work (issue 3) parses and enforces this; until then it is carried, not checked.
    rateLimit: accepted,
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
