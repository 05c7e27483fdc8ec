// BackendSecurityPolicy → the credential injected for each AIServiceBackend it targets: API keys
// (APIKey, AzureAPIKey, AnthropicAPIKey), AWSCredentials (SigV4), GCPCredentials and
// AzureCredentials (OAuth2 tokens refreshed in the background), and credentialOverride.
import { defaultOverrideHeader } from '../../credentials/inject.js';
import { SecretValue } from '../../core/secret.js';
import type { Manifest } from '../parse.js';
import type { SecretLookup } from '../secrets.js';
import type { ApiSchemaName, BackendSecurityPolicyType, CredentialOverride, UpstreamCredential } from '../types.js';
import { type Ctx, dangling, error, type Path, warn } from './context.js';
import { cloudCredential, CLOUD_SECRET_KEYS } from './credentials-cloud.js';
import type { CaRef } from './endpoints.js';

const AIGW_GROUP = 'aigateway.envoyproxy.io';
type Policy = Manifest<'BackendSecurityPolicy'>;

const FIELD_OF = {
  APIKey: 'apiKey',
  AzureAPIKey: 'azureAPIKey',
  AnthropicAPIKey: 'anthropicAPIKey',
  AWSCredentials: 'awsCredentials',
  AzureCredentials: 'azureCredentials',
  GCPCredentials: 'gcpCredentials',
} as const satisfies Record<BackendSecurityPolicyType, string>;

/** Which backend schemas each policy type can authenticate to (a mismatch is a config error). */
function fits(type: BackendSecurityPolicyType, schema: ApiSchemaName): boolean {
  switch (type) {
    case 'AWSCredentials':
      return schema === 'AWSBedrock' || schema === 'AWSAnthropic';
    case 'GCPCredentials':
      return schema === 'GCPVertexAI' || schema === 'GCPAnthropic';
    case 'AzureCredentials':
      return schema === 'AzureOpenAI' || schema === 'OpenAI';
    case 'APIKey':
    case 'AzureAPIKey':
    case 'AnthropicAPIKey':
      return true;
  }
}

// Credentials stay the same objects while the policy manifest and secret text stay the same, so a
// reload neither refetches tokens nor invalidates memoized backends.
const stable = new WeakMap<object, Map<string, UpstreamCredential>>();

function remember(p: Policy, text: string, build: () => UpstreamCredential | undefined): UpstreamCredential | undefined {
  let byText = stable.get(p);
  const hit = byText?.get(text);
  if (hit !== undefined) return hit;
  const cred = build();
  if (cred === undefined) return undefined;
  if (byText === undefined) {
    byText = new Map();
    stable.set(p, byText);
  }
  byText.set(text, cred);
  return cred;
}

/** Credentials by the `namespace/name` of the AIServiceBackend they attach to. */
export function compileSecurityPolicies(ctx: Ctx): Map<string, UpstreamCredential> {
  const out = new Map<string, UpstreamCredential>();
  const owner = new Map<string, Policy>();
  for (const p of ctx.index.ok('BackendSecurityPolicy')) {
    const spec = p.value.spec;
    const fields = Object.values(FIELD_OF);
    const present = fields.filter((f) => spec[f] !== undefined);
    const expected = FIELD_OF[spec.type];
    let ok = true;
    if (!present.includes(expected) && spec.type === 'AWSCredentials') {
      // awsCredentials is required by the API even for the default chain (it carries the region).
      error(ctx, p, ['spec'], 'type AWSCredentials needs the `awsCredentials` field', 'e.g. awsCredentials: {region: us-east-1} (default credential chain) or with credentialsFile');
      ok = false;
    } else if (!present.includes(expected) || present.length > 1) {
      error(
        ctx,
        p,
        ['spec'],
        `type ${spec.type} needs exactly the \`${expected}\` field${present.length > 0 ? ` (found ${present.map((f) => `\`${f}\``).join(', ')})` : ''}`,
        `e.g. ${expected}: {secretRef: {name: my-secret}} with the key under \`apiKey\` in that Secret`,
      );
      ok = false;
    }
    const override = compileOverride(ctx, p);
    if (override === null) ok = false;
    const targets: Array<{ key: string; schema: ApiSchemaName | undefined }> = [];
    (spec.targetRefs ?? []).forEach((t, i) => {
      const path: Path = ['spec', 'targetRefs', i];
      if (t.kind === 'InferencePool') {
        error(ctx, p, path, 'InferencePool targets are not supported yet');
        return;
      }
      if (t.kind !== 'AIServiceBackend' || t.group !== AIGW_GROUP) {
        error(ctx, p, path, `cannot target ${t.group}/${t.kind}`, `target an AIServiceBackend: {group: ${AIGW_GROUP}, kind: AIServiceBackend, name: …}`);
        return;
      }
      const key = `${p.namespace}/${t.name}`;
      const backend = ctx.index.get('AIServiceBackend', key);
      if (backend === undefined) {
        dangling(ctx, p, [...path, 'name'], 'AIServiceBackend', p.namespace, t.name);
        return;
      }
      const prev = owner.get(key);
      if (prev !== undefined) {
        error(
          ctx,
          p,
          path,
          `AIServiceBackend ${key} already has BackendSecurityPolicy ${prev.key} (${prev.src.file}:${prev.pos.line})`,
          'attach one BackendSecurityPolicy per backend',
        );
        return;
      }
      const schema = backend.ok ? (backend).value.spec.schema.name : undefined;
      if (schema !== undefined && !fits(spec.type, schema)) {
        error(ctx, p, path, `a ${spec.type} policy cannot authenticate to AIServiceBackend ${key}, whose schema is ${schema}`, policyHint(schema));
        return;
      }
      owner.set(key, p);
      targets.push({ key, schema });
    });
    if ((spec.targetRefs ?? []).length === 0) warn(ctx, p, ['spec'], 'this BackendSecurityPolicy has no targetRefs, so it applies to nothing');
    if (!ok || targets.length === 0 || override === null) continue;
    // Compiled once per policy (and per header variant for API keys), so problems are reported once.
    const variants = new Map<string, UpstreamCredential | undefined>();
    for (const t of targets) {
      const apiKey = spec.type === 'APIKey' || spec.type === 'AzureAPIKey' || spec.type === 'AnthropicAPIKey';
      const variant = apiKey && spec.type === 'APIKey' && t.schema === 'GeminiAPI' ? 'gemini' : 'default';
      if (!variants.has(variant)) {
        const type = spec.type;
        variants.set(variant, type === 'APIKey' || type === 'AzureAPIKey' || type === 'AnthropicAPIKey' ? apiKeyCredential(ctx, p, type, t.schema, override) : cloudCredential(ctx, p, override, remember));
      }
      const cred = variants.get(variant);
      if (cred !== undefined) out.set(t.key, cred);
    }
  }
  return out;
}

function policyHint(schema: ApiSchemaName): string {
  switch (schema) {
    case 'AWSBedrock':
    case 'AWSAnthropic':
      return 'use AWSCredentials (SigV4) or APIKey (a Bedrock API key)';
    case 'GCPVertexAI':
    case 'GCPAnthropic':
      return 'use GCPCredentials (a service account)';
    case 'AzureOpenAI':
      return 'use AzureAPIKey or AzureCredentials';
    case 'Anthropic':
      return 'use AnthropicAPIKey';
    case 'GeminiAPI':
      return 'use APIKey (sent as x-goog-api-key)';
    case 'OpenAI':
    case 'Cohere':
      return 'use APIKey';
  }
}

function apiKeyCredential(
  ctx: Ctx,
  p: Policy,
  type: 'APIKey' | 'AzureAPIKey' | 'AnthropicAPIKey',
  schema: ApiSchemaName | undefined,
  override: CredentialOverride | undefined,
): UpstreamCredential | undefined {
  const field = FIELD_OF[type];
  const holder = p.value.spec[field];
  if (holder === undefined) return undefined;
  const ref = holder.secretRef;
  const refPath: Path = ['spec', field, 'secretRef'];
  if ((ref.kind !== undefined && ref.kind !== 'Secret') || (ref.group !== undefined && ref.group !== '')) {
    error(ctx, p, refPath, `secretRef must name a Secret, not ${ref.group ?? ''}/${ref.kind ?? ''}`);
    return undefined;
  }
  // The Gemini API takes its key in x-goog-api-key, bare; every other APIKey backend a bearer token.
  const gemini = type === 'APIKey' && schema === 'GeminiAPI';
  const header = gemini ? 'x-goog-api-key' : type === 'APIKey' ? 'authorization' : type === 'AzureAPIKey' ? 'api-key' : 'x-api-key';
  const lookup: SecretLookup = { namespace: ref.namespace ?? p.namespace, name: ref.name, key: 'apiKey' };
  const site = { diags: ctx.diags, file: p.src.file, pos: p.src.locate([...refPath, 'name']), resource: p.label, path: `spec.${field}.secretRef` };
  const secret = ctx.secrets.credential(lookup, site, type === 'APIKey' && !gemini ? (k) => `Bearer ${k}` : (k) => k);
  if (secret === undefined) return undefined;
  const value = withOverride(secret, override);
  const text = `${header}\0${value.source}\0${value.reveal()}\0${JSON.stringify(override ?? null)}`;
  return remember(p, text, () => ({ kind: 'header', policy: type, header, value, policyName: `BackendSecurityPolicy ${p.key}`, override }));
}

/**
 * The override is part of what the dump (and so the config fingerprint) shows: a changed override
 * must reload even when no secret changed.
 */
export function withOverride(v: SecretValue, o: CredentialOverride | undefined): SecretValue {
  return o === undefined ? v : new SecretValue(v.reveal(), `${v.source}; per-request override from ${o.header}${o.fallbackToConfigured ? '' : ' (no fallback)'}`);
}

/** `credentialOverride`: undefined when absent, null after reporting an error. */
function compileOverride(ctx: Ctx, p: Policy): CredentialOverride | undefined | null {
  const spec = p.value.spec as { credentialOverride?: { fromRequestHeaders?: { header?: string; fallbackToConfigured?: boolean }; fromDynamicMetadata?: unknown } };
  const o = spec.credentialOverride;
  if (o === undefined) return undefined;
  const base: Path = ['spec', 'credentialOverride'];
  if (o.fromDynamicMetadata !== undefined) {
    error(ctx, p, [...base, 'fromDynamicMetadata'], '`fromDynamicMetadata` needs Envoy filter metadata, which Tollgate does not have', 'use fromRequestHeaders, set by a trusted front proxy');
    return null;
  }
  const h = o.fromRequestHeaders;
  if (h === undefined) {
    error(ctx, p, base, 'credentialOverride needs `fromRequestHeaders`', 'e.g. credentialOverride: {fromRequestHeaders: {header: x-aigw-api-key}}');
    return null;
  }
  const header = (h.header ?? defaultOverrideHeader(p.value.spec.type)).toLowerCase();
  if (!/^[!#$%&'*+\-.^_`|~0-9a-z]+$/.test(header)) {
    error(ctx, p, [...base, 'fromRequestHeaders', 'header'], `"${header.slice(0, 80)}" is not a valid header name`);
    return null;
  }
  if (header === 'authorization' || header === 'x-api-key' || header === 'api-key' || header === 'x-goog-api-key') {
    warn(ctx, p, [...base, 'fromRequestHeaders', 'header'], `clients send their own credentials in ${header}; a per-request upstream credential there lets any client pick the upstream identity`, 'use an x-aigw-* header set by a trusted front proxy');
  }
  return { header, fallbackToConfigured: h.fallbackToConfigured ?? true };
}

/** Secret lookups the security policies will make, so secret files can be read ahead in parallel. */
export function secretLookups(ctx: Ctx): SecretLookup[] {
  const out: SecretLookup[] = [];
  for (const p of ctx.index.ok('BackendSecurityPolicy')) {
    const spec = p.value.spec;
    for (const f of ['apiKey', 'azureAPIKey', 'anthropicAPIKey'] as const) {
      const ref = spec[f]?.secretRef;
      if (ref !== undefined) out.push({ namespace: ref.namespace ?? p.namespace, name: ref.name, key: 'apiKey' });
    }
    const aws = spec.awsCredentials?.credentialsFile?.secretRef;
    if (aws !== undefined) out.push({ namespace: aws.namespace ?? p.namespace, name: aws.name, key: CLOUD_SECRET_KEYS.aws });
    const gcp = spec.gcpCredentials?.credentialsFile?.secretRef;
    if (gcp !== undefined) out.push({ namespace: gcp.namespace ?? p.namespace, name: gcp.name, key: CLOUD_SECRET_KEYS.gcp });
    const az = spec.azureCredentials?.clientSecretRef;
    if (az !== undefined) out.push({ namespace: az.namespace ?? p.namespace, name: az.name, key: CLOUD_SECRET_KEYS.azure });
  }
  const caRefs = (ns: string, refs: readonly CaRef[] | undefined): void => {
    for (const r of refs ?? []) if (r.kind === 'Secret') out.push({ namespace: ns, name: r.name, key: 'ca.crt' });
  };
  for (const p of ctx.index.ok('BackendTLSPolicy')) caRefs(p.namespace, p.value.spec.validation.caCertificateRefs);
  for (const b of ctx.index.ok('Backend')) caRefs(b.namespace, b.value.spec.tls?.caCertificateRefs);
  return out;
}
