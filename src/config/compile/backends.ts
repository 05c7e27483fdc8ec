// AIServiceBackend → BackendConfig: schema, the Backend's endpoints and TLS, the credential, and
// mutations.
import { ENCODINGS, isEncodingName } from '../../tokenizer/index.js';
import type { Manifest } from '../parse.js';
import { type BackendConfig, DEFAULT_CONNECT_TIMEOUT_MS, type UpstreamCredential } from '../types.js';
import { checkSchema } from './schemas.js';
import { type Ctx, dangling, error, type Path, sourceRef, warn } from './context.js';
import { type CompiledEndpoints, EG_GROUP } from './endpoints.js';
import { compileBodyMutation, compileHeaderMutation } from './mutations.js';

/** AIServiceBackend annotation choosing the encoding the gateway counts tokens with. */
const TOKENIZER_ANNOTATION = 'tollgate.io/tokenizer';
/** AIServiceBackend annotation: the backend runs the OpenAI Responses API itself (OpenAI and Azure schemas). */
const RESPONSES_ANNOTATION = 'tollgate.io/responses-api';

function normalizePrefix(prefix: string | undefined): string {
  if (prefix === undefined) return '/v1';
  let p = prefix.trim();
  if (!p.startsWith('/')) p = `/${p}`;
  return p.replace(/\/+$/, '');
}

export function compileServiceBackend(
  ctx: Ctx,
  m: Manifest<'AIServiceBackend'>,
  endpointsOf: (key: string) => CompiledEndpoints | undefined,
  credentials: ReadonlyMap<string, UpstreamCredential>,
  connectTimeoutMs: number | undefined,
): BackendConfig | undefined {
  const spec = m.value.spec;
  const errorsBefore = ctx.diags.errorCount;
  const credential = credentials.get(m.key);
  checkSchema(ctx, m, credential);
  const ref = spec.backendRef;
  const refPath: Path = ['spec', 'backendRef'];
  if (ref.kind !== 'Backend' || ref.group !== EG_GROUP) {
    error(
      ctx,
      m,
      refPath,
      ref.kind === undefined && ref.group === undefined
        ? 'backendRef needs `kind: Backend` and `group: gateway.envoyproxy.io`'
        : `backendRef must be an Envoy Gateway Backend, not ${ref.group ?? ''}/${ref.kind ?? 'Service'}`,
      `e.g. backendRef: {name: ${ref.name}, kind: Backend, group: ${EG_GROUP}}`,
    );
    return undefined;
  }
  if (ref.port !== undefined) warn(ctx, m, [...refPath, 'port'], '`port` is ignored for a Backend reference: the Backend endpoints carry the ports', undefined, true);
  const ns = ref.namespace ?? m.namespace;
  const key = `${ns}/${ref.name}`;
  const target = ctx.index.get('Backend', key);
  if (target === undefined) {
    dangling(ctx, m, [...refPath, 'name'], 'Backend', ns, ref.name);
    return undefined;
  }
  const eps = endpointsOf(key);
  const headerMutation = compileHeaderMutation(ctx, m, ['spec', 'headerMutation'], spec.headerMutation);
  const bodyMutation = compileBodyMutation(ctx, m, ['spec', 'bodyMutation'], spec.bodyMutation);
  const tokenizer = m.value.metadata.annotations?.[TOKENIZER_ANNOTATION];
  if (tokenizer !== undefined && (typeof tokenizer !== 'string' || !isEncodingName(tokenizer))) {
    error(ctx, m, ['metadata', 'annotations', TOKENIZER_ANNOTATION], `unknown tokenizer ${JSON.stringify(tokenizer)}`, `one of ${ENCODINGS.join(', ')}`);
  }
  const responses = m.value.metadata.annotations?.[RESPONSES_ANNOTATION];
  if (responses !== undefined && responses !== 'native' && responses !== 'translate') {
    error(ctx, m, ['metadata', 'annotations', RESPONSES_ANNOTATION], `unknown mode ${JSON.stringify(responses)}`, '"native" (the backend serves /v1/responses) or "translate" (the default: via chat completions)');
  } else if (responses === 'native' && spec.schema.name !== 'OpenAI' && spec.schema.name !== 'AzureOpenAI') {
    error(ctx, m, ['metadata', 'annotations', RESPONSES_ANNOTATION], `schema ${spec.schema.name} has no native Responses API`, 'remove the annotation; the gateway translates Responses requests for this backend');
  }
  if (eps === undefined || ctx.diags.errorCount > errorsBefore) return undefined;
  const requestMs = spec.timeouts?.request;
  return {
    key: m.key,
    name: m.name,
    namespace: m.namespace,
    schema: { name: spec.schema.name, version: spec.schema.version, prefix: normalizePrefix(spec.schema.prefix) },
    endpointsKey: key,
    endpoints: eps.endpoints,
    tls: eps.tls,
    credential,
    headerMutation,
    bodyMutation,
    requestTimeoutMs: requestMs === undefined || requestMs === 0 ? undefined : requestMs,
    connectTimeoutMs: connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
    tokenizer: typeof tokenizer === 'string' && isEncodingName(tokenizer) ? tokenizer : undefined,
    nativeResponses: responses === 'native',
    source: sourceRef(m),
  };
}
