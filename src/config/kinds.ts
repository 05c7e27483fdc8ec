// Which apiVersion/kind pairs Tollgate reads, which it lists as ignored, and which are mistakes.
// Kubernetes-only kinds are never an error; a kind in one of the Envoy groups that we do not know
// is (it is almost always a typo), and so is a version of a known kind that does not exist.
import { didYouMean, quoteList } from './diagnostics.js';

export type UsedKind =
  | 'AIGatewayRoute'
  | 'AIServiceBackend'
  | 'BackendSecurityPolicy'
  | 'Backend'
  | 'BackendTrafficPolicy'
  | 'ClientTrafficPolicy'
  | 'BackendTLSPolicy'
  | 'QuotaPolicy'
  | 'SecurityPolicy'
  | 'Secret'
  | 'ConfigMap'
  | 'MCPRoute'
  | 'InferencePool';

export type Classification =
  | { readonly type: 'used'; readonly kind: UsedKind; readonly version: string }
  | { readonly type: 'list' }
  | { readonly type: 'ignored'; readonly reason: string; readonly warn: boolean }
  | { readonly type: 'error'; readonly message: string; readonly hint: string; readonly at: 'apiVersion' | 'kind' };

interface KindInfo {
  readonly versions: readonly string[];
  readonly used?: UsedKind;
  readonly ignoredReason?: string;
  /** Ignored, but worth a warning: the user may expect it to take effect. */
  readonly warn?: boolean;
}

const NOT_YET = 'not supported by Tollgate yet; it has no effect';
const K8S_ONLY = 'only meaningful inside Kubernetes';

const GROUPS: Readonly<Record<string, Readonly<Record<string, KindInfo>>>> = {
  'aigateway.envoyproxy.io': {
    AIGatewayRoute: { versions: ['v1beta1', 'v1alpha1'], used: 'AIGatewayRoute' },
    AIServiceBackend: { versions: ['v1beta1', 'v1alpha1'], used: 'AIServiceBackend' },
    BackendSecurityPolicy: { versions: ['v1beta1', 'v1alpha1'], used: 'BackendSecurityPolicy' },
    GatewayConfig: { versions: ['v1beta1', 'v1alpha1'], ignoredReason: NOT_YET, warn: true },
    MCPRoute: { versions: ['v1beta1', 'v1alpha1'], used: 'MCPRoute' },
    QuotaPolicy: { versions: ['v1alpha1'], used: 'QuotaPolicy' },
  },
  'gateway.envoyproxy.io': {
    Backend: { versions: ['v1alpha1'], used: 'Backend' },
    BackendTrafficPolicy: { versions: ['v1alpha1'], used: 'BackendTrafficPolicy' },
    ClientTrafficPolicy: { versions: ['v1alpha1'], used: 'ClientTrafficPolicy' },
    SecurityPolicy: { versions: ['v1alpha1'], used: 'SecurityPolicy' },
    EnvoyExtensionPolicy: { versions: ['v1alpha1'], ignoredReason: 'Envoy extensions (Wasm, ext_proc, Lua) do not apply to Tollgate', warn: true },
    EnvoyPatchPolicy: { versions: ['v1alpha1'], ignoredReason: 'raw Envoy xDS patches do not apply to Tollgate', warn: true },
    EnvoyProxy: { versions: ['v1alpha1'], ignoredReason: 'Envoy proxy deployment settings do not apply to Tollgate' },
    HTTPRouteFilter: { versions: ['v1alpha1'], ignoredReason: 'used by HTTPRoutes, which Tollgate does not read' },
  },
  'inference.networking.k8s.io': {
    InferencePool: { versions: ['v1'], used: 'InferencePool' },
  },
};

// Kinds of gateway.networking.k8s.io that Tollgate does not read. Any version is fine for these.
const GATEWAY_API_IGNORED: Readonly<Record<string, string>> = {
  GatewayClass: K8S_ONLY,
  Gateway: 'Tollgate is the gateway; its listeners are set with --listen',
  HTTPRoute: 'Tollgate routes with AIGatewayRoute (policies may still target an HTTPRoute of the same name)',
  GRPCRoute: 'gRPC routing is not part of Tollgate',
  TCPRoute: 'TCP routing is not part of Tollgate',
  TLSRoute: 'TLS routing is not part of Tollgate',
  UDPRoute: 'UDP routing is not part of Tollgate',
  ReferenceGrant: 'Tollgate allows cross-namespace references without grants',
  ListenerSet: K8S_ONLY,
  XListenerSet: K8S_ONLY,
  BackendLBPolicy: 'not supported by Tollgate yet',
  XBackendTrafficPolicy: 'not supported by Tollgate yet',
  XMesh: K8S_ONLY,
};
const BACKEND_TLS_VERSIONS = ['v1', 'v1alpha3'];

const OUR_KINDS: ReadonlyMap<string, string> = new Map([
  ['AIGatewayRoute', 'aigateway.envoyproxy.io/v1beta1'],
  ['AIServiceBackend', 'aigateway.envoyproxy.io/v1beta1'],
  ['BackendSecurityPolicy', 'aigateway.envoyproxy.io/v1beta1'],
  ['QuotaPolicy', 'aigateway.envoyproxy.io/v1alpha1'],
  ['MCPRoute', 'aigateway.envoyproxy.io/v1beta1'],
  ['Backend', 'gateway.envoyproxy.io/v1alpha1'],
  ['BackendTrafficPolicy', 'gateway.envoyproxy.io/v1alpha1'],
  ['ClientTrafficPolicy', 'gateway.envoyproxy.io/v1alpha1'],
  ['SecurityPolicy', 'gateway.envoyproxy.io/v1alpha1'],
  ['BackendTLSPolicy', 'gateway.networking.k8s.io/v1'],
  ['InferencePool', 'inference.networking.k8s.io/v1'],
]);

export function splitApiVersion(apiVersion: string): { group: string; version: string } {
  const i = apiVersion.lastIndexOf('/');
  return i < 0 ? { group: '', version: apiVersion } : { group: apiVersion.slice(0, i), version: apiVersion.slice(i + 1) };
}

export function classify(apiVersion: string, kind: string): Classification {
  const { group, version } = splitApiVersion(apiVersion);
  const ours = GROUPS[group];
  if (ours !== undefined) {
    const info = ours[kind];
    if (info === undefined) {
      const guess = didYouMean(kind, Object.keys(ours));
      return {
        type: 'error',
        message: `unknown kind \`${kind}\` in ${group}`,
        hint: guess !== undefined ? `did you mean \`${guess}\`?` : `${group} kinds are ${quoteList(Object.keys(ours))}`,
        at: 'kind',
      };
    }
    if (!info.versions.includes(version)) return badVersion(apiVersion, kind, group, info.versions);
    if (info.used !== undefined) return { type: 'used', kind: info.used, version };
    return { type: 'ignored', reason: info.ignoredReason ?? K8S_ONLY, warn: info.warn ?? false };
  }
  if (group === 'gateway.networking.k8s.io') {
    if (kind === 'BackendTLSPolicy') {
      if (!BACKEND_TLS_VERSIONS.includes(version)) return badVersion(apiVersion, kind, group, BACKEND_TLS_VERSIONS);
      return { type: 'used', kind: 'BackendTLSPolicy', version };
    }
    const reason = GATEWAY_API_IGNORED[kind];
    if (reason !== undefined) return { type: 'ignored', reason, warn: false };
    const guess = didYouMean(kind, ['BackendTLSPolicy', ...Object.keys(GATEWAY_API_IGNORED)]);
    if (guess !== undefined) {
      return { type: 'error', message: `unknown kind \`${kind}\` in ${group}`, hint: `did you mean \`${guess}\`?`, at: 'kind' };
    }
    return { type: 'ignored', reason: 'a Gateway API kind Tollgate does not read', warn: false };
  }
  if (group === '') {
    if (version !== 'v1') {
      if (kind === 'Secret' || kind === 'ConfigMap') return badVersion(apiVersion, kind, 'the core group', ['v1']);
      return { type: 'ignored', reason: K8S_ONLY, warn: false };
    }
    if (kind === 'Secret') return { type: 'used', kind: 'Secret', version };
    if (kind === 'ConfigMap') return { type: 'used', kind: 'ConfigMap', version };
    if (kind === 'List') return { type: 'list' };
  }
  const home = OUR_KINDS.get(kind);
  if (home !== undefined) {
    return {
      type: 'error',
      message: `${kind} does not belong to apiVersion \`${apiVersion}\``,
      hint: `use \`apiVersion: ${home}\``,
      at: 'apiVersion',
    };
  }
  return { type: 'ignored', reason: K8S_ONLY, warn: false };
}

function badVersion(apiVersion: string, kind: string, group: string, versions: readonly string[]): Classification {
  const g = group.startsWith('the ') ? '' : `${group}/`;
  return {
    type: 'error',
    message: `${kind} has no version \`${apiVersion}\``,
    hint: `supported: ${quoteList(versions.map((v) => `${g}${v}`))}`,
    at: 'apiVersion',
  };
}
