// aigateway.envoyproxy.io MCPRoute: one MCP endpoint (Streamable HTTP) over many MCP servers. Field
// names, defaults and limits follow Envoy AI Gateway's api/v1beta1 MCPRoute (and v1alpha1, which has
// the same shape). `hostnames` is a Tollgate extension: an MCPRoute inside Kubernetes gets its host
// from the Gateway listener; here it narrows the route to requests for those hosts.
import * as z from 'zod';
import { accepted, headerName, manifest, namespaceName, nonEmpty, obj, objectName, secretObjectRef, wildcardHostname } from './common.js';
import { apiKeyAuth, localJWKS, remoteJWKS } from './security.js';

const path = z.string().min(1).max(1024).startsWith('/', { message: 'a path starts with `/`' });

const toolSelector = obj({
  include: z.array(nonEmpty).max(32).optional(),
  includeRegex: z.array(nonEmpty).max(32).optional(),
  exclude: z.array(nonEmpty).max(32).optional(),
  excludeRegex: z.array(nonEmpty).max(32).optional(),
});
export type ToolSelectorSpec = z.infer<typeof toolSelector>;

const backendApiKey = obj({
  secretRef: secretObjectRef.optional(),
  inline: z.string().optional(),
  header: headerName.optional(),
  queryParam: nonEmpty.optional(),
});
export type McpBackendApiKeySpec = z.infer<typeof backendApiKey>;

const backendRef = obj({
  name: objectName,
  namespace: namespaceName.optional(),
  group: z.string().optional(),
  kind: z.string().optional(),
  port: z.number().int().min(1).max(65535).optional(),
  path: path.optional(),
  toolSelector: toolSelector.optional(),
  securityPolicy: obj({ apiKey: backendApiKey.optional(), tokenExchange: accepted }).optional(),
  forwardHeaders: z.array(obj({ name: headerName, backendHeader: headerName.optional() })).max(32).optional(),
});
export type McpBackendRefSpec = z.infer<typeof backendRef>;

const jwtClaim = obj({ name: z.string().min(1).max(253), valueType: z.enum(['String', 'StringArray']).optional(), values: z.array(z.string()).min(1).max(128) });

const authorizationRule = obj({
  source: obj({ jwt: obj({ scopes: z.array(nonEmpty).max(16).optional(), claims: z.array(jwtClaim).max(16).optional() }) }).optional(),
  target: obj({ tools: z.array(obj({ backend: nonEmpty, tool: nonEmpty })).min(1).max(16) }).optional(),
  cel: z.string().max(4096).optional(),
  action: z.enum(['Allow', 'Deny']).optional(),
});
export type McpAuthorizationRuleSpec = z.infer<typeof authorizationRule>;

const oauth = obj({
  issuer: nonEmpty,
  audiences: z.array(nonEmpty).max(32).optional(),
  jwks: obj({ remoteJWKS: remoteJWKS.optional(), localJWKS: localJWKS.optional() }).optional(),
  protectedResourceMetadata: obj({
    resource: nonEmpty,
    resourceName: z.string().max(256).optional(),
    scopesSupported: z.array(nonEmpty).max(32).optional(),
    resourceSigningAlgValuesSupported: z.array(nonEmpty).min(1).max(16).optional(),
    resourceDocumentation: nonEmpty.optional(),
    resourcePolicyUri: nonEmpty.optional(),
  }),
  claimToHeaders: z.array(obj({ header: headerName, claim: nonEmpty })).max(16).optional(),
});
export type McpOAuthSpec = z.infer<typeof oauth>;

const securityPolicy = obj({
  oauth: oauth.optional(),
  apiKeyAuth: apiKeyAuth.optional(),
  extAuth: accepted,
  authorization: obj({ defaultAction: z.enum(['Allow', 'Deny']).optional(), rules: z.array(authorizationRule).max(32).optional() }).optional(),
});
export type McpRouteSecuritySpec = z.infer<typeof securityPolicy>;

const parentRef = obj({
  group: z.string().optional(),
  kind: z.string().optional(),
  namespace: namespaceName.optional(),
  name: objectName,
  sectionName: z.string().optional(),
  port: z.number().int().optional(),
});

export const mcpRoute = manifest(
  obj({
    parentRefs: z.array(parentRef).max(16).optional(),
    path: path.optional(),
    headers: z.array(obj({ type: z.enum(['Exact', 'RegularExpression']).optional(), name: headerName, value: z.string().max(4096) })).max(16).optional(),
    hostnames: z.array(wildcardHostname).max(16).optional(),
    backendRefs: z.array(backendRef).min(1).max(256),
    securityPolicy: securityPolicy.optional(),
  }),
);
export type McpRouteSpec = z.infer<typeof mcpRoute>['spec'];
