// gateway.envoyproxy.io/v1alpha1 SecurityPolicy: client authentication (apiKeyAuth, jwt) and
// authorization. Field names are Envoy Gateway's (api/v1alpha1/securitypolicy_types.go,
// api_key_auth_types.go, jwt_types.go, authorization_types.go). Features Tollgate does not implement
// are accepted by the schema and then refused at compile time when ignoring them would let requests
// through that the policy means to stop (basicAuth, oidc, extAuth, CEL rules).
import * as z from 'zod';
import { accepted, duration, headerName, localObjectRef, localPolicyTargetRef, manifest, nonEmpty, obj, secretObjectRef } from './common.js';

const apiKeyExtractFrom = obj({
  headers: z.array(headerName).min(1).optional(),
  params: z.array(nonEmpty).min(1).optional(),
  cookies: z.array(nonEmpty).min(1).optional(),
});

export const apiKeyAuth = obj({
  credentialRefs: z.array(secretObjectRef).min(1),
  extractFrom: z.array(apiKeyExtractFrom).min(1),
  forwardClientIDHeader: headerName.optional(),
  sanitize: z.boolean().optional(),
});
export type ApiKeyAuthSpec = z.infer<typeof apiKeyAuth>;

export const remoteJWKS = obj({
  uri: z.string().min(1).max(253),
  cacheDuration: duration.optional(),
  failedRefetchDuration: duration.optional(),
  backendRef: accepted,
  backendRefs: accepted,
  backendSettings: accepted,
});

export const localJWKS = obj({
  type: z.enum(['Inline', 'ValueRef']).optional(),
  inline: z.string().optional(),
  valueRef: localObjectRef.optional(),
});

const jwtProvider = obj({
  name: z.string().min(1).max(253),
  issuer: z.string().max(253).optional(),
  audiences: z.array(z.string()).max(8).optional(),
  remoteJWKS: remoteJWKS.optional(),
  localJWKS: localJWKS.optional(),
  claimToHeaders: z.array(obj({ header: headerName, claim: nonEmpty })).optional(),
  recomputeRoute: z.boolean().optional(),
  extractFrom: obj({
    headers: z.array(obj({ name: headerName, valuePrefix: z.string().optional() })).optional(),
    cookies: z.array(nonEmpty).optional(),
    params: z.array(nonEmpty).optional(),
  }).optional(),
});
export type JwtProviderSpec = z.infer<typeof jwtProvider>;

const jwt = obj({
  optional: z.boolean().optional(),
  failOpen: z.boolean().optional(),
  providers: z.array(jwtProvider).min(1).max(16),
});
export type JwtSpec = z.infer<typeof jwt>;

export const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH'] as const;

const operation = obj({
  methods: z.array(z.enum(HTTP_METHODS)).min(1).max(16).optional(),
  path: obj({
    type: z.enum(['Exact', 'PathPrefix', 'RegularExpression']).optional(),
    value: z.string().min(1).max(1024),
    invert: z.boolean().optional(),
  }).optional(),
  // Tollgate extensions: which models (body `model`) and which AIGatewayRoutes the rule covers.
  models: z.array(nonEmpty).min(1).optional(),
  routes: z.array(nonEmpty).min(1).optional(),
});

const principal = obj({
  clientCIDRs: z.array(nonEmpty).min(1).optional(),
  jwt: obj({
    provider: z.string().min(1).max(253),
    claims: z
      .array(obj({ name: z.string().min(1).max(253), valueType: z.enum(['String', 'StringArray']).optional(), values: z.array(z.string()).min(1).max(128) }))
      .min(1)
      .max(16)
      .optional(),
    scopes: z.array(z.string().min(1).max(253)).min(1).max(16).optional(),
  }).optional(),
  headers: z.array(obj({ name: headerName, values: z.array(z.string()).min(1).max(256) })).min(1).max(256).optional(),
  clientIPGeoLocations: accepted,
});

const authorizationRule = obj({
  name: z.string().min(1).max(253).optional(),
  action: z.enum(['Allow', 'Deny']),
  operation: operation.optional(),
  principal: principal.optional(),
  cel: accepted,
});
export type AuthorizationRuleSpec = z.infer<typeof authorizationRule>;

const authorization = obj({
  rules: z.array(authorizationRule).optional(),
  defaultAction: z.enum(['Allow', 'Deny']).optional(),
});
export type AuthorizationSpec = z.infer<typeof authorization>;

/** Fields of the real API that Tollgate refuses (they would authenticate or authorize; ignoring them would open the route). */
export const SP_REFUSED = ['basicAuth', 'oidc', 'extAuth'] as const;
/** Browser-facing fields: accepted, warned about, not applied (API clients do not send preflights). */
export const SP_NOT_ENFORCED = ['cors', 'csrf', 'targetSelectors'] as const;

export const securityPolicy = manifest(
  obj({
    targetRef: localPolicyTargetRef.optional(),
    targetRefs: z.array(localPolicyTargetRef).optional(),
    targetSelectors: accepted,
    mergeType: accepted,
    apiKeyAuth: apiKeyAuth.optional(),
    jwt: jwt.optional(),
    authorization: authorization.optional(),
    cors: accepted,
    csrf: accepted,
    basicAuth: accepted,
    oidc: accepted,
    extAuth: accepted,
  }),
);
export type SecurityPolicySpec = z.infer<typeof securityPolicy>['spec'];
