// SecurityPolicy → client authentication and authorization per Gateway / route / rule. Attachment
// follows Envoy Gateway: a policy targets the Gateway (every route), an HTTPRoute named like an
// AIGatewayRoute (that route) or one rule of it (sectionName); the most specific policy wins as a
// whole. Anything that would authenticate or authorize but that Tollgate cannot enforce is an error,
// never a warning: ignoring it would open a route the user meant to close.
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { keyDigest, setDigest } from '../../auth/digest.js';
import type { Manifest } from '../parse.js';
import { SP_NOT_ENFORCED, SP_REFUSED, type ApiKeyAuthSpec } from '../schema/security.js';
import type { ApiKeyAuthConfig, ApiKeyClient, ClientSecurityConfig, ClientSecurityPolicy, CredentialSource, IdentityMismatch } from '../types.js';
import { compileAuthorization } from './security-authz.js';
import { compileJwt, isReservedHeader } from './security-jwt.js';
import { type AnyManifest, type Ctx, dangling, error, type Path, sourceRef, warn, warnNotEnforced } from './context.js';

type Policy = Manifest<'SecurityPolicy'>;

export const WORKLOAD_HEADER = 'x-workload-app';
export const MISMATCH_ANNOTATION = 'tollgate.io/identity-mismatch';
export const SEPARATOR_ANNOTATION = 'tollgate.io/workload-separator';
export const WORKLOAD_CLAIM_ANNOTATION = 'tollgate.io/workload-claim';

/** Reads every key of the credential Secrets a policy names (manifests, or the mounted directory). */
export async function compileClientSecurity(ctx: Ctx, secretsDir: string | undefined): Promise<ClientSecurityConfig | undefined> {
  const policies = ctx.index.ok('SecurityPolicy');
  if (policies.length === 0) return undefined;
  let gateway: { policy: ClientSecurityPolicy; m: Policy } | undefined;
  const routes = new Map<string, { policy: ClientSecurityPolicy; m: Policy }>();
  const rules = new Map<string, { policy: ClientSecurityPolicy; m: Policy }>();
  const conflict = (p: Policy, path: Path, what: string, prev: Policy): void =>
    error(ctx, p, path, `${what} is already targeted by SecurityPolicy ${prev.key} (${prev.src.file}:${prev.pos.line})`, 'merge the two policies into one');

  for (const p of policies) {
    const policy = await compilePolicy(ctx, p, secretsDir);
    const spec = p.value.spec;
    const refs: Array<{ ref: NonNullable<typeof spec.targetRef>; path: Path }> = [];
    if (spec.targetRef !== undefined) refs.push({ ref: spec.targetRef, path: ['spec', 'targetRef'] });
    (spec.targetRefs ?? []).forEach((ref, i) => refs.push({ ref, path: ['spec', 'targetRefs', i] }));
    if (spec.targetRef !== undefined && spec.targetRefs !== undefined) {
      error(ctx, p, ['spec', 'targetRef'], 'use either `targetRef` or `targetRefs`, not both');
    }
    if (refs.length === 0) warn(ctx, p, ['spec'], 'this SecurityPolicy has no targetRefs, so it applies to nothing', 'target the Gateway (every route) or the HTTPRoute named like an AIGatewayRoute');
    if (policy === undefined) continue;
    for (const { ref, path } of refs) {
      if (ref.group !== 'gateway.networking.k8s.io' || (ref.kind !== 'Gateway' && ref.kind !== 'HTTPRoute')) {
        error(
          ctx,
          p,
          path,
          `target ${ref.kind} ${ref.name} is not supported: Tollgate applies a SecurityPolicy to a Gateway or to the HTTPRoute of an AIGatewayRoute`,
          'with group gateway.networking.k8s.io and kind Gateway or HTTPRoute',
        );
        continue;
      }
      const entry = { policy, m: p };
      if (ref.kind === 'Gateway') {
        if (ref.sectionName !== undefined) {
          warn(ctx, p, [...path, 'sectionName'], 'Tollgate has one data listener; the policy applies to all of it', undefined, true);
        }
        if (gateway !== undefined) conflict(p, path, 'the gateway', gateway.m);
        else gateway = entry;
        continue;
      }
      const key = `${p.namespace}/${ref.name}`;
      const route = ctx.index.get('AIGatewayRoute', key);
      if (route === undefined) {
        dangling(ctx, p, [...path, 'name'], 'AIGatewayRoute', p.namespace, ref.name, ' (an HTTPRoute target names the AIGatewayRoute it was generated from)');
        continue;
      }
      if (!route.ok) continue;
      if (ref.sectionName !== undefined) {
        const names = route.value.spec.rules.map((r) => r.name).filter((n): n is string => n !== undefined);
        if (!names.includes(ref.sectionName)) {
          error(
            ctx,
            p,
            [...path, 'sectionName'],
            `AIGatewayRoute ${key} has no rule named "${ref.sectionName}"`,
            names.length > 0 ? `rule names: ${names.join(', ')}` : 'give the rule a `name:` to target it',
          );
          continue;
        }
        const rk = `${key}#${ref.sectionName}`;
        const prev = rules.get(rk);
        if (prev !== undefined) conflict(p, path, `rule ${ref.sectionName} of AIGatewayRoute ${key}`, prev.m);
        else rules.set(rk, entry);
        continue;
      }
      const prev = routes.get(key);
      if (prev !== undefined) conflict(p, path, `AIGatewayRoute ${key}`, prev.m);
      else routes.set(key, entry);
    }
  }
  // A route-level policy replaces the gateway's as a whole (Envoy Gateway): one without
  // authentication opens a route the gateway policy would have closed. Legal, but worth saying.
  if (gateway !== undefined && authenticates(gateway.policy)) {
    for (const e of [...routes.values(), ...rules.values()]) {
      if (!authenticates(e.policy)) {
        warn(
          ctx,
          e.m,
          ['spec'],
          `this policy replaces the gateway's SecurityPolicy ${gateway.m.key} on its targets but authenticates no one, so they accept anonymous requests`,
          'add apiKeyAuth or jwt here too (policies do not merge)',
        );
      }
    }
  }
  return {
    gateway: gateway?.policy,
    routes: new Map([...routes].map(([k, v]) => [k, v.policy])),
    rules: new Map([...rules].map(([k, v]) => [k, v.policy])),
  };
}

function authenticates(p: ClientSecurityPolicy): boolean {
  return p.apiKeyAuth !== undefined || (p.jwt !== undefined && !p.jwt.failOpen);
}

async function compilePolicy(ctx: Ctx, p: Policy, secretsDir: string | undefined): Promise<ClientSecurityPolicy | undefined> {
  const spec = p.value.spec;
  const before = ctx.diags.errorCount;
  for (const k of SP_REFUSED) {
    if (spec[k] !== undefined) {
      error(ctx, p, ['spec', k], `\`${k}\` is not supported by Tollgate, and ignoring it would let unauthenticated requests through`, 'use apiKeyAuth or jwt');
    }
  }
  if (spec.mergeType !== undefined) {
    error(ctx, p, ['spec', 'mergeType'], '`mergeType` is not supported: Tollgate applies the most specific SecurityPolicy as a whole', 'repeat the gateway policy\'s settings in this one');
  }
  warnNotEnforced(ctx, p, ['spec'], spec, SP_NOT_ENFORCED, 'accepted but not applied by Tollgate (browser-facing; API clients do not use it)');
  const annotations = p.value.metadata.annotations ?? {};
  const mismatch = annotation(ctx, p, annotations, MISMATCH_ANNOTATION);
  let identityMismatch: IdentityMismatch = 'Reject';
  if (mismatch !== undefined) {
    if (mismatch === 'Reject' || mismatch === 'Overwrite') identityMismatch = mismatch;
    else error(ctx, p, ['metadata', 'annotations', MISMATCH_ANNOTATION], `unknown value "${mismatch.slice(0, 40)}"`, 'one of Reject (default), Overwrite');
  }
  const separator = annotation(ctx, p, annotations, SEPARATOR_ANNOTATION);
  if (separator !== undefined && separator.length !== 1) {
    error(ctx, p, ['metadata', 'annotations', SEPARATOR_ANNOTATION], 'the separator must be one character', 'e.g. "." so that keys `team-a.2026-05` and `team-a.2026-06` both speak for workload team-a');
  }
  const workloadClaim = annotation(ctx, p, annotations, WORKLOAD_CLAIM_ANNOTATION);
  if (workloadClaim !== undefined && spec.jwt === undefined) {
    warn(ctx, p, ['metadata', 'annotations', WORKLOAD_CLAIM_ANNOTATION], 'this policy has no `jwt`, so the workload claim is not used', undefined, true);
  }

  const apiKeyAuth = spec.apiKeyAuth === undefined ? undefined : await compileApiKeyAuth(ctx, p, spec.apiKeyAuth, separator?.length === 1 ? separator : undefined, secretsDir);
  const jwt = spec.jwt === undefined ? undefined : compileJwt(ctx, p, spec.jwt, workloadClaim);
  const authorization = spec.authorization === undefined ? undefined : compileAuthorization(ctx, p, spec.authorization, jwt, apiKeyAuth !== undefined || jwt !== undefined);
  if (apiKeyAuth === undefined && jwt === undefined && authorization === undefined && spec.basicAuth === undefined && spec.oidc === undefined && spec.extAuth === undefined) {
    warn(ctx, p, ['spec'], 'this SecurityPolicy sets neither apiKeyAuth, jwt nor authorization, so it checks nothing', 'add `apiKeyAuth:` or `jwt:` to require a credential');
  }
  if (ctx.diags.errorCount > before) return undefined;
  const parts: string[] = [];
  for (const [digest, c] of apiKeyAuth?.keys ?? []) parts.push(`${c.clientId}\0${c.workload}\0${digest}`);
  return {
    key: p.key,
    label: p.label,
    apiKeyAuth,
    jwt,
    authorization,
    identityMismatch,
    keysDigest: setDigest(parts),
    source: sourceRef(p),
  };
}

function annotation(ctx: Ctx, p: Policy, annotations: Readonly<Record<string, unknown>>, name: string): string | undefined {
  const v = annotations[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') {
    error(ctx, p, ['metadata', 'annotations', name], 'annotation values are strings', 'put the value in quotes');
    return undefined;
  }
  return v;
}

// ---- apiKeyAuth -----------------------------------------------------------------------------------

/** Also used by MCPRoute `securityPolicy.apiKeyAuth` (same API), hence the manifest type and base path. */
export async function compileApiKeyAuth(
  ctx: Ctx,
  p: AnyManifest,
  spec: ApiKeyAuthSpec,
  separator: string | undefined,
  secretsDir: string | undefined,
  base: Path = ['spec', 'apiKeyAuth'],
): Promise<ApiKeyAuthConfig | undefined> {
  const extract: CredentialSource[] = [];
  spec.extractFrom.forEach((e, i) => {
    const at: Path = [...base, 'extractFrom', i];
    const kinds = [e.headers, e.params, e.cookies].filter((x) => x !== undefined).length;
    if (kinds !== 1) {
      error(ctx, p, at, 'each extractFrom entry needs exactly one of `headers`, `params` or `cookies`');
      return;
    }
    if (e.params !== undefined) {
      error(ctx, p, [...at, 'params'], 'API keys in query parameters are not supported: URLs end up in access logs and upstream requests', 'send the key in a header, e.g. `headers: [x-api-key]`');
      return;
    }
    for (const h of e.headers ?? []) {
      const name = h.toLowerCase();
      if (name === WORKLOAD_HEADER || name.startsWith(':') || name === 'x-ai-eg-model') {
        error(ctx, p, [...at, 'headers'], `header ${name} cannot carry an API key: the gateway sets it`);
        continue;
      }
      extract.push({ from: 'header', name, prefix: '' });
    }
    for (const c of e.cookies ?? []) extract.push({ from: 'cookie', name: c });
  });
  if (spec.sanitize === false) {
    warn(ctx, p, [...base, 'sanitize'], 'Tollgate never forwards a client credential upstream; `sanitize: false` has no effect', undefined, true);
  }
  let forward: string | undefined;
  if (spec.forwardClientIDHeader !== undefined) {
    forward = spec.forwardClientIDHeader.toLowerCase();
    if (isReservedHeader(forward)) {
      error(ctx, p, [...base, 'forwardClientIDHeader'], `the client id cannot be forwarded in ${forward}: that header is a credential or belongs to the gateway`);
    }
  }

  const keys = new Map<string, ApiKeyClient>();
  const clients = new Map<string, string>();
  const secrets: string[] = [];
  for (let i = 0; i < spec.credentialRefs.length; i++) {
    const ref = spec.credentialRefs[i]!;
    const at: Path = [...base, 'credentialRefs', i];
    if ((ref.kind !== undefined && ref.kind !== 'Secret') || (ref.group !== undefined && ref.group !== '')) {
      error(ctx, p, at, `credentialRefs name Secrets; got ${ref.group ?? ''}/${ref.kind ?? ''}`, 'drop `group`/`kind` or set kind: Secret');
      continue;
    }
    const ns = ref.namespace ?? p.namespace;
    secrets.push(`${ns}/${ref.name}`);
    const entries = await secretEntries(ctx, p, [...at, 'name'], ns, ref.name, secretsDir);
    if (entries === undefined) continue;
    if (entries.length === 0) warn(ctx, p, at, `Secret ${ns}/${ref.name} holds no keys, so no client can use it`);
    for (const e of entries) {
      const key = e.value.trim();
      const where = `${e.source} key ${e.clientId}`;
      if (key === '') {
        error(ctx, p, at, `the API key in ${where} is empty`, 'put a key in it, or remove the entry');
        continue;
      }
      if (hasControl(key)) {
        error(ctx, p, at, `the API key in ${where} contains a line break or control character`, 'an API key is a single line of printable characters');
        continue;
      }
      if (clients.has(e.clientId)) {
        warn(ctx, p, at, `client ${e.clientId} appears in more than one credential Secret; the first (${clients.get(e.clientId) ?? ''}) is used`, 'as Envoy Gateway does');
        continue;
      }
      const digest = keyDigest(key);
      const other = keys.get(digest);
      if (other !== undefined) {
        error(ctx, p, at, `clients ${other.clientId} and ${e.clientId} share the same API key, so a request could not tell them apart`, 'give every client its own key');
        continue;
      }
      if (key.length < 16) warn(ctx, p, at, `the API key of client ${e.clientId} is shorter than 16 characters and could be guessed`, 'use at least 32 random characters');
      clients.set(e.clientId, e.source);
      const workload = separator === undefined ? e.clientId : e.clientId.split(separator, 1)[0] ?? e.clientId;
      keys.set(digest, { clientId: e.clientId, workload, source: e.source });
    }
  }
  if (extract.length === 0) return undefined;
  return { extract, keys, forwardClientIdHeader: forward, secrets };
}

function hasControl(v: string): boolean {
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

interface SecretEntry {
  readonly clientId: string;
  readonly value: string;
  readonly source: string;
}

/**
 * Every key of a Secret: from its manifest (data is base64, stringData may use ${VAR}), else from
 * `<secretsDir>/<name>/` (one file per key; dot-files are the volume's own bookkeeping).
 */
async function secretEntries(ctx: Ctx, p: AnyManifest, at: Path, namespace: string, name: string, secretsDir: string | undefined): Promise<SecretEntry[] | undefined> {
  const m = ctx.index.get('Secret', `${namespace}/${name}`);
  const site = { diags: ctx.diags, file: p.src.file, pos: p.src.locate(at), resource: p.label, path: at.join('.') };
  if (m !== undefined) {
    if (!m.ok) return undefined;
    const names = [...new Set([...Object.keys(m.value.stringData ?? {}), ...Object.keys(m.value.data ?? {})])];
    const out: SecretEntry[] = [];
    for (const key of names) {
      const t = ctx.secrets.text({ namespace, name, key }, site);
      if (t !== undefined) out.push({ clientId: key, value: t.value, source: `Secret ${namespace}/${name}` });
    }
    return out;
  }
  if (secretsDir !== undefined) {
    const dir = join(secretsDir, name);
    const listing = await fsp.readdir(dir).catch(() => undefined);
    if (listing !== undefined) {
      const out: SecretEntry[] = [];
      for (const key of listing.sort()) {
        if (key.startsWith('.')) continue;
        const file = join(dir, key);
        const st = await fsp.stat(file).catch(() => undefined);
        if (st === undefined || !st.isFile()) continue;
        const value = await fsp.readFile(file, 'utf8').catch(() => undefined);
        if (value !== undefined) out.push({ clientId: key, value, source: `secret directory ${dir}` });
      }
      return out;
    }
  }
  error(
    ctx,
    p,
    at,
    `credential Secret ${namespace}/${name} not found`,
    `define a Secret manifest ${namespace}/${name} (one key per client id)${secretsDir === undefined ? ', or mount it under --secrets-dir' : `, or mount it as ${join(secretsDir, name)}/<client-id>`}`,
  );
  return undefined;
}
