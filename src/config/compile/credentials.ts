// BackendSecurityPolicy → the credential injected for each AIServiceBackend it targets.
import type { Manifest } from '../parse.js';
import type { SecretLookup } from '../secrets.js';
import type { UpstreamCredential } from '../types.js';
import { type Ctx, dangling, error, type Path, warn } from './context.js';
import type { CaRef } from './endpoints.js';

const AIGW_GROUP = 'aigateway.envoyproxy.io';

/** Credentials by the `namespace/name` of the AIServiceBackend they attach to. */
export function compileSecurityPolicies(ctx: Ctx): Map<string, UpstreamCredential> {
  const out = new Map<string, UpstreamCredential>();
  const owner = new Map<string, Manifest<'BackendSecurityPolicy'>>();
  for (const p of ctx.index.ok('BackendSecurityPolicy')) {
    const spec = p.value.spec;
    const fields = ['apiKey', 'azureAPIKey', 'anthropicAPIKey', 'awsCredentials', 'azureCredentials', 'gcpCredentials'] as const;
    const present = fields.filter((f) => spec[f] !== undefined);
    const expected = (
      { APIKey: 'apiKey', AzureAPIKey: 'azureAPIKey', AnthropicAPIKey: 'anthropicAPIKey', AWSCredentials: 'awsCredentials', AzureCredentials: 'azureCredentials', GCPCredentials: 'gcpCredentials' } as const
    )[spec.type];
    let ok = true;
    if (spec.type === 'AWSCredentials' || spec.type === 'AzureCredentials' || spec.type === 'GCPCredentials') {
      error(ctx, p, ['spec', 'type'], `BackendSecurityPolicy type ${spec.type} is not supported yet`, 'supported today: APIKey, AzureAPIKey, AnthropicAPIKey');
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
    if ((spec as { credentialOverride?: unknown }).credentialOverride !== undefined) {
      error(ctx, p, ['spec', 'credentialOverride'], '`credentialOverride` is not supported yet');
      ok = false;
    }
    const targets: string[] = [];
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
      if (ctx.index.get('AIServiceBackend', key) === undefined) {
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
      owner.set(key, p);
      targets.push(key);
    });
    if ((spec.targetRefs ?? []).length === 0) warn(ctx, p, ['spec'], 'this BackendSecurityPolicy has no targetRefs, so it applies to nothing');
    if (!ok || targets.length === 0) continue;
    if (spec.type !== 'APIKey' && spec.type !== 'AzureAPIKey' && spec.type !== 'AnthropicAPIKey') continue;
    const holder = spec[expected as 'apiKey' | 'azureAPIKey' | 'anthropicAPIKey'];
    if (holder === undefined) continue;
    const ref = holder.secretRef;
    const refPath: Path = ['spec', expected, 'secretRef'];
    if ((ref.kind !== undefined && ref.kind !== 'Secret') || (ref.group !== undefined && ref.group !== '')) {
      error(ctx, p, refPath, `secretRef must name a Secret, not ${ref.group ?? ''}/${ref.kind ?? ''}`);
      continue;
    }
    const lookup: SecretLookup = { namespace: ref.namespace ?? p.namespace, name: ref.name, key: 'apiKey' };
    const site = { diags: ctx.diags, file: p.src.file, pos: p.src.locate([...refPath, 'name']), resource: p.label, path: `spec.${expected}.secretRef` };
    const header = spec.type === 'APIKey' ? 'authorization' : spec.type === 'AzureAPIKey' ? 'api-key' : 'x-api-key';
    const value = ctx.secrets.credential(lookup, site, spec.type === 'APIKey' ? (k) => `Bearer ${k}` : (k) => k);
    if (value === undefined) continue;
    // Same policy and same secret → the same object, so memoized backends stay valid across reloads.
    const text = `${value.source}\0${value.reveal()}`;
    const prevCred = ctx.memo.credentials.get(p);
    let cred: UpstreamCredential;
    if (prevCred !== undefined && prevCred.text === text) cred = prevCred.cred;
    else {
      cred = { kind: 'header', policy: spec.type, header, value, policyName: `BackendSecurityPolicy ${p.key}` };
      ctx.memo.credentials.set(p, { text, cred });
    }
    for (const key of targets) out.set(key, cred);
  }
  return out;
}

/** Secret lookups the security policies will make, so secret files can be read ahead in parallel. */
export function secretLookups(ctx: Ctx): SecretLookup[] {
  const out: SecretLookup[] = [];
  for (const p of ctx.index.ok('BackendSecurityPolicy')) {
    for (const f of ['apiKey', 'azureAPIKey', 'anthropicAPIKey'] as const) {
      const ref = p.value.spec[f]?.secretRef;
      if (ref !== undefined) out.push({ namespace: ref.namespace ?? p.namespace, name: ref.name, key: 'apiKey' });
    }
  }
  const caRefs = (ns: string, refs: readonly CaRef[] | undefined): void => {
    for (const r of refs ?? []) if (r.kind === 'Secret') out.push({ namespace: ns, name: r.name, key: 'ca.crt' });
  };
  for (const p of ctx.index.ok('BackendTLSPolicy')) caRefs(p.namespace, p.value.spec.validation.caCertificateRefs);
  for (const b of ctx.index.ok('Backend')) caRefs(b.namespace, b.value.spec.tls?.caCertificateRefs);
  return out;
}
