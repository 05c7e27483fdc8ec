// Envoy Gateway `Backend` → endpoints and upstream TLS, merged with the BackendTLSPolicy that targets
// it; CA bundles come from ConfigMaps or Secrets (key `ca.crt`) and are checked to be certificates.
import { X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import type { Manifest } from '../parse.js';
import { BACKEND_NOT_ENFORCED, BACKEND_TLS_NOT_ENFORCED } from '../schema/envoygateway.js';
import type { Endpoint, UpstreamTls } from '../types.js';
import { type AnyManifest, type Ctx, dangling, error, type Path, warn, warnNotEnforced } from './context.js';

export const EG_GROUP = 'gateway.envoyproxy.io';

export interface CompiledEndpoints {
  readonly endpoints: readonly Endpoint[];
  readonly tls: UpstreamTls | undefined;
}

export type CaRef = { group?: string | undefined; kind?: string | undefined; name: string };

/** BackendTLSPolicies by the `namespace/name` of the Backend they target. */
export function indexTlsPolicies(ctx: Ctx): Map<string, Manifest<'BackendTLSPolicy'>> {
  const byBackend = new Map<string, Manifest<'BackendTLSPolicy'>>();
  for (const p of ctx.index.ok('BackendTLSPolicy')) {
    const v = p.value.spec.validation;
    const hasRefs = (v.caCertificateRefs?.length ?? 0) > 0;
    if (hasRefs === (v.wellKnownCACertificates !== undefined)) {
      error(
        ctx,
        p,
        ['spec', 'validation'],
        hasRefs ? 'set either caCertificateRefs or wellKnownCACertificates, not both' : 'no CA to verify the backend with',
        'use `wellKnownCACertificates: System` for public endpoints, or `caCertificateRefs` naming a ConfigMap with `ca.crt`',
      );
    }
    if (v.subjectAltNames !== undefined) warn(ctx, p, ['spec', 'validation', 'subjectAltNames'], '`subjectAltNames` is accepted but not enforced by Tollgate (the certificate is checked against `hostname`)', undefined, true);
    if (p.value.spec.options !== undefined && Object.keys(p.value.spec.options).length > 0) {
      warn(ctx, p, ['spec', 'options'], '`options` are accepted but not enforced by Tollgate', undefined, true);
    }
    p.value.spec.targetRefs.forEach((t, i) => {
      const path: Path = ['spec', 'targetRefs', i];
      if (t.kind === 'Service' && t.group === '') {
        warn(ctx, p, path, `targets Service ${t.name}; Tollgate connects only to Envoy Gateway Backends, so this target is ignored`);
        return;
      }
      if (t.kind !== 'Backend' || t.group !== EG_GROUP) {
        error(ctx, p, path, `cannot target ${t.group === '' ? '' : `${t.group}/`}${t.kind}`, `target a Backend: {group: ${EG_GROUP}, kind: Backend, name: …}`);
        return;
      }
      const key = `${p.namespace}/${t.name}`;
      if (ctx.index.get('Backend', key) === undefined) {
        dangling(ctx, p, [...path, 'name'], 'Backend', p.namespace, t.name);
        return;
      }
      const prev = byBackend.get(key);
      if (prev !== undefined) {
        error(ctx, p, path, `Backend ${key} already has BackendTLSPolicy ${prev.key} (${prev.src.file}:${prev.pos.line})`, 'one BackendTLSPolicy per Backend');
        return;
      }
      byBackend.set(key, p);
    });
  }
  return byBackend;
}

/** PEM CA bundle from ConfigMap or Secret key `ca.crt`, checked to contain real certificates. */
function loadCa(ctx: Ctx, m: AnyManifest, path: Path, namespace: string, refs: readonly CaRef[]): string | undefined {
  const pems: string[] = [];
  refs.forEach((r, i) => {
    const at: Path = [...path, i];
    const kind = r.kind ?? 'ConfigMap';
    let text: string | undefined;
    let where: string;
    if (kind === 'ConfigMap' && (r.group ?? '') === '') {
      const cm = ctx.index.get('ConfigMap', `${namespace}/${r.name}`);
      where = `ConfigMap ${namespace}/${r.name}`;
      if (cm === undefined) {
        dangling(ctx, m, [...at, 'name'], 'ConfigMap', namespace, r.name, '; the CA bundle goes under data: {ca.crt: |-----BEGIN CERTIFICATE-----…}');
        return;
      }
      if (!cm.ok) return;
      text = cm.value.data?.['ca.crt'];
      if (text === undefined) {
        error(ctx, m, at, `${where} has no key \`ca.crt\``, 'put the PEM bundle under data: {ca.crt: …}');
        return;
      }
    } else if (kind === 'Secret' && (r.group ?? '') === '') {
      where = `Secret ${namespace}/${r.name}`;
      const site = { diags: ctx.diags, file: m.src.file, pos: m.src.locate(at), resource: m.label, path: '' };
      text = ctx.secrets.text({ namespace, name: r.name, key: 'ca.crt' }, site)?.value;
      if (text === undefined) return;
    } else {
      error(ctx, m, at, `a CA certificate reference must be a ConfigMap or Secret, not ${kind}`, 'e.g. {group: "", kind: ConfigMap, name: my-ca}');
      return;
    }
    const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
    if (blocks.length === 0) {
      error(ctx, m, at, `${where} key \`ca.crt\` holds no PEM certificate`, 'it should contain -----BEGIN CERTIFICATE----- blocks');
      return;
    }
    for (const b of blocks) {
      try {
        new X509Certificate(b);
      } catch (err) {
        error(ctx, m, at, `${where} key \`ca.crt\` holds an invalid certificate: ${err instanceof Error ? err.message : String(err)}`);
        return;
      }
    }
    pems.push(blocks.join('\n'));
  });
  return pems.length > 0 ? `${pems.join('\n')}\n` : undefined;
}

export function compileBackendEndpoints(
  ctx: Ctx,
  b: Manifest<'Backend'>,
  tlsPolicy: Manifest<'BackendTLSPolicy'> | undefined,
): CompiledEndpoints | undefined {
  const spec = b.value.spec;
  const errorsBefore = ctx.diags.errorCount;
  warnNotEnforced(ctx, b, ['spec'], spec, BACKEND_NOT_ENFORCED);
  if (spec.type === 'DynamicResolver') {
    error(ctx, b, ['spec', 'type'], 'Backend type DynamicResolver is not supported yet', 'list the endpoints (type: Endpoints)');
    return undefined;
  }
  const eps = spec.endpoints ?? [];
  if (eps.length === 0) {
    error(ctx, b, ['spec'], 'a Backend needs at least one endpoint', 'e.g. endpoints: [{fqdn: {hostname: api.openai.com, port: 443}}]');
    return undefined;
  }
  const endpoints: Endpoint[] = [];
  eps.forEach((e, i) => {
    const path: Path = ['spec', 'endpoints', i];
    const set = [e.fqdn, e.ip, e.unix].filter((x) => x !== undefined).length;
    if (set !== 1) {
      error(ctx, b, path, set === 0 ? 'an endpoint needs one of `fqdn`, `ip` or `unix`' : 'an endpoint takes only one of `fqdn`, `ip` or `unix`');
      return;
    }
    warnNotEnforced(ctx, b, path, e, ['hostname', 'zone']);
    if (e.unix !== undefined) {
      error(ctx, b, [...path, 'unix'], 'unix socket endpoints are not supported', 'use an `ip` or `fqdn` endpoint');
    } else if (e.ip !== undefined) {
      const addr = e.ip.address;
      if (isIP(addr) === 0) {
        error(ctx, b, [...path, 'ip', 'address'], `"${addr}" is not an IP address`, 'use `fqdn: {hostname, port}` for host names');
        return;
      }
      endpoints.push({ kind: 'ip', host: addr, port: e.ip.port });
    } else if (e.fqdn !== undefined) {
      endpoints.push({ kind: 'fqdn', host: e.fqdn.hostname.toLowerCase().replace(/\.$/, ''), port: e.fqdn.port });
    }
  });
  const kinds = new Set(endpoints.map((e) => e.kind));
  if (kinds.size > 1) error(ctx, b, ['spec', 'endpoints'], 'fqdn endpoints cannot be mixed with ip endpoints in one Backend', 'split them into two Backends');

  let tls: UpstreamTls | undefined;
  const t = spec.tls;
  if (t !== undefined) {
    warnNotEnforced(ctx, b, ['spec', 'tls'], t, BACKEND_TLS_NOT_ENFORCED);
    const refs = t.caCertificateRefs ?? [];
    if (refs.length > 0 && t.wellKnownCACertificates !== undefined) {
      error(ctx, b, ['spec', 'tls'], 'set either caCertificateRefs or wellKnownCACertificates, not both');
    }
    if (t.insecureSkipVerify === true && (refs.length > 0 || t.wellKnownCACertificates !== undefined)) {
      error(ctx, b, ['spec', 'tls', 'insecureSkipVerify'], 'insecureSkipVerify cannot be combined with CA settings', 'remove the CA settings, or stop skipping verification');
    }
    if (t.insecureSkipVerify === true) {
      warn(ctx, b, ['spec', 'tls', 'insecureSkipVerify'], 'TLS certificate verification is disabled for this Backend', 'only for testing: anyone on the path can impersonate the backend');
    }
  }
  if (tlsPolicy !== undefined || t !== undefined) {
    const v = tlsPolicy?.value.spec.validation;
    let ca: string | undefined;
    if (v !== undefined && tlsPolicy !== undefined) {
      if ((v.caCertificateRefs?.length ?? 0) > 0) {
        ca = loadCa(ctx, tlsPolicy, ['spec', 'validation', 'caCertificateRefs'], tlsPolicy.namespace, v.caCertificateRefs ?? []);
      }
      if (t?.sni !== undefined && t.sni !== v.hostname) {
        warn(ctx, b, ['spec', 'tls', 'sni'], `BackendTLSPolicy ${tlsPolicy.key} sets hostname ${v.hostname}, which wins over this sni`);
      }
    } else if (t !== undefined && (t.caCertificateRefs?.length ?? 0) > 0) {
      ca = loadCa(ctx, b, ['spec', 'tls', 'caCertificateRefs'], b.namespace, t.caCertificateRefs ?? []);
    }
    tls = { servername: v?.hostname ?? t?.sni, ca, insecureSkipVerify: t?.insecureSkipVerify ?? false };
  } else if (endpoints.some((e) => e.port === 443)) {
    warn(
      ctx,
      b,
      ['spec', 'endpoints'],
      'port 443 is used without TLS: requests will go out as plain HTTP',
      `did you forget a BackendTLSPolicy? e.g. targetRefs: [{group: ${EG_GROUP}, kind: Backend, name: ${b.name}}], validation: {wellKnownCACertificates: System, hostname: …}`,
    );
  }
  if (ctx.diags.errorCount > errorsBefore) return undefined;
  return { endpoints, tls };
}
