// One file → its manifests, each classified by apiVersion/kind and checked against its schema. The
// result depends only on the file's bytes, so the loader caches it per file and a reload re-parses
// only files that changed.
import type * as z from 'zod';
import { Diagnostics, formatPath, type Pos } from './diagnostics.js';
import { classify, type UsedKind } from './kinds.js';
import {
  aiGatewayRouteV1alpha1,
  aiGatewayRouteV1beta1,
  aiServiceBackend,
  backendSecurityPolicyV1alpha1,
  backendSecurityPolicyV1beta1,
  quotaPolicy,
} from './schema/aigateway.js';
import { issueToProblem } from './schema/common.js';
import { backendTlsPolicy, configMap, secret } from './schema/core.js';
import { backend, backendTrafficPolicy, clientTrafficPolicy } from './schema/envoygateway.js';
import { mcpRoute } from './schema/mcp.js';
import { inferencePool } from './schema/inference.js';
import { securityPolicy } from './schema/security.js';
import { parseYaml, SourceDoc, SourceText } from './source.js';
import { DEFAULT_NAMESPACE, type Diagnostic, type IgnoredResource } from './types.js';

interface KindValues {
  AIGatewayRoute: z.infer<typeof aiGatewayRouteV1alpha1>;
  AIServiceBackend: z.infer<typeof aiServiceBackend>;
  BackendSecurityPolicy: z.infer<typeof backendSecurityPolicyV1beta1>;
  Backend: z.infer<typeof backend>;
  BackendTrafficPolicy: z.infer<typeof backendTrafficPolicy>;
  ClientTrafficPolicy: z.infer<typeof clientTrafficPolicy>;
  BackendTLSPolicy: z.infer<typeof backendTlsPolicy>;
  QuotaPolicy: z.infer<typeof quotaPolicy>;
  SecurityPolicy: z.infer<typeof securityPolicy>;
  Secret: z.infer<typeof secret>;
  ConfigMap: z.infer<typeof configMap>;
  MCPRoute: z.infer<typeof mcpRoute>;
  InferencePool: z.infer<typeof inferencePool>;
}

interface ManifestBase<K extends UsedKind> {
  readonly kind: K;
  readonly apiVersion: string;
  readonly version: string;
  readonly name: string;
  readonly namespace: string;
  /** `namespace/name`. */
  readonly key: string;
  /** `Kind namespace/name`, for messages. */
  readonly label: string;
  readonly src: SourceDoc;
  readonly pos: Pos;
}

/** A manifest that passed its schema. */
export type Manifest<K extends UsedKind = UsedKind> = K extends UsedKind
  ? ManifestBase<K> & {
      readonly ok: true;
      readonly value: KindValues[K];
      /** AIGatewayRoute only: position of each rule, and the `namespace/name` each backendRef names. */
      readonly rulePos: readonly Pos[];
      readonly ruleBackendKeys: ReadonlyArray<readonly string[]>;
    }
  : never;

/** A manifest whose schema check failed: it still claims its name, so references to it are not "dangling". */
export interface BrokenManifest extends ManifestBase<UsedKind> {
  readonly ok: false;
}

export interface ParsedFile {
  readonly path: string;
  readonly source: SourceText;
  readonly manifests: ReadonlyArray<Manifest | BrokenManifest>;
  readonly ignored: readonly IgnoredResource[];
  readonly diagnostics: readonly Diagnostic[];
  /** No document in the file has an apiVersion or kind: probably not a manifest file at all. */
  readonly notManifests: boolean;
  /** Not manifests but `tollgate chargeback` prices (top-level `models`), kept beside the scenario they price. */
  readonly ratesFile: boolean;
}

const SCHEMAS: Record<UsedKind, (version: string) => z.ZodType> = {
  AIGatewayRoute: (v) => (v === 'v1alpha1' ? aiGatewayRouteV1alpha1 : aiGatewayRouteV1beta1),
  AIServiceBackend: () => aiServiceBackend,
  BackendSecurityPolicy: (v) => (v === 'v1alpha1' ? backendSecurityPolicyV1alpha1 : backendSecurityPolicyV1beta1),
  Backend: () => backend,
  BackendTrafficPolicy: () => backendTrafficPolicy,
  ClientTrafficPolicy: () => clientTrafficPolicy,
  BackendTLSPolicy: () => backendTlsPolicy,
  QuotaPolicy: () => quotaPolicy,
  SecurityPolicy: () => securityPolicy,
  Secret: () => secret,
  ConfigMap: () => configMap,
  MCPRoute: () => mcpRoute,
  InferencePool: () => inferencePool,
};

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function parseFile(path: string, text: string): ParsedFile {
  const ast = parseYaml(text);
  const source = new SourceText(path, text, ast);
  const diags = new Diagnostics();
  const manifests: Array<Manifest | BrokenManifest> = [];
  const ignored: IgnoredResource[] = [];
  let sawManifest = false;
  let ratesLike = true;
  const shapeless: Array<() => void> = [];

  const handle = (doc: SourceDoc, value: unknown): void => {
    const at = (path: readonly PropertyKey[], atKey = false): Pos => doc.locate(path, atKey);
    if (!isRecord(value) || (value['apiVersion'] === undefined && value['kind'] === undefined)) {
      if (!isRecord(value) || !isRecord(value['models'])) ratesLike = false;
      // Reported only if the file turns out to hold manifests elsewhere (see notManifests).
      shapeless.push(() =>
        diags.error({
          file: path,
          pos: at([]),
          message: 'this document is not a Kubernetes manifest (it has no apiVersion and kind)',
          hint: 'every document needs `apiVersion:`, `kind:` and `metadata: {name: …}`; separate documents with `---`',
        }),
      );
      return;
    }
    sawManifest = true;
    const apiVersion = value['apiVersion'];
    const kind = value['kind'];
    if (typeof apiVersion !== 'string' || typeof kind !== 'string') {
      const missing = typeof apiVersion !== 'string' ? 'apiVersion' : 'kind';
      diags.error({
        file: path,
        pos: at([missing]),
        message: value[missing] === undefined ? `missing \`${missing}\`` : `\`${missing}\` must be a string`,
        hint:
          missing === 'apiVersion'
            ? 'e.g. `apiVersion: aigateway.envoyproxy.io/v1beta1`'
            : 'e.g. `kind: AIGatewayRoute`',
      });
      return;
    }
    const meta = isRecord(value['metadata']) ? value['metadata'] : {};
    const rawName = typeof meta['name'] === 'string' ? meta['name'] : undefined;
    const namespace = typeof meta['namespace'] === 'string' && meta['namespace'] !== '' ? meta['namespace'] : DEFAULT_NAMESPACE;
    const c = classify(apiVersion, kind);
    switch (c.type) {
      case 'error':
        diags.error({
          file: path,
          pos: at([c.at]),
          resource: `${kind} ${namespace}/${rawName ?? '?'}`,
          message: c.message,
          hint: c.hint,
        });
        return;
      case 'list': {
        const items = value['items'];
        if (!Array.isArray(items)) {
          diags.error({ file: path, pos: at(['items']), message: 'a `List` needs an `items:` list of manifests', hint: undefined });
          return;
        }
        items.forEach((item, i) => handle(new SourceDoc(source, doc.docIndex, [...doc.base, 'items', i]), item));
        return;
      }
      case 'ignored': {
        const pos = at([]);
        ignored.push({ apiVersion, kind, name: rawName ?? '(unnamed)', file: path, line: pos.line, reason: c.reason });
        if (c.warn) {
          diags.warn({
            file: path,
            pos,
            resource: `${kind} ${namespace}/${rawName ?? '(unnamed)'}`,
            message: `${kind} is ignored: ${c.reason}`,
          });
        }
        return;
      }
      case 'used':
        break;
    }
    const name = rawName ?? '';
    const base = {
      kind: c.kind,
      apiVersion,
      version: c.version,
      name,
      namespace,
      key: `${namespace}/${name}`,
      label: `${c.kind} ${namespace}/${name}`,
      src: doc,
      pos: at([]),
    };
    const result = SCHEMAS[c.kind](c.version).safeParse(value);
    if (!result.success) {
      for (const issue of result.error.issues) {
        const p = issueToProblem(issue, value, c.kind === 'Secret');
        diags.error({
          file: path,
          pos: at(p.path, p.atKey),
          resource: base.label,
          path: formatPath(p.path),
          message: p.message,
          hint: p.hint,
        });
      }
      if (rawName !== undefined) manifests.push({ ...base, ok: false });
      return;
    }
    const rulePos: Pos[] = [];
    const ruleBackendKeys: string[][] = [];
    if (c.kind === 'AIGatewayRoute') {
      const rules = (result.data as KindValues['AIGatewayRoute']).spec.rules;
      for (let i = 0; i < rules.length; i++) {
        rulePos.push(at(['spec', 'rules', i]));
        ruleBackendKeys.push((rules[i]?.backendRefs ?? []).map((r) => `${r.namespace ?? namespace}/${r.name}`));
      }
    }
    manifests.push({ ...base, ok: true, value: result.data, rulePos, ruleBackendKeys } as Manifest);
  };

  ast.docs.forEach((doc, i) => {
    const sdoc = new SourceDoc(source, i, []);
    if (doc.errors.length > 0) {
      for (const e of doc.errors) {
        diags.error({
          file: path,
          pos: source.posOf(e.pos[0]),
          message: `YAML syntax error: ${e.message.split('\n')[0] ?? e.message}`,
          hint: 'fix the YAML syntax (indentation, quotes, `:` after keys); nothing in this document was read',
        });
      }
      sawManifest = true;
      return;
    }
    for (const w of doc.warnings) {
      diags.warn({ file: path, pos: source.posOf(w.pos[0]), message: `YAML: ${w.message.split('\n')[0] ?? w.message}` });
    }
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: 10_000 });
    } catch (err) {
      diags.error({ file: path, pos: sdoc.locate([]), message: `YAML: ${err instanceof Error ? err.message : String(err)}` });
      return;
    }
    if (value === null || value === undefined) return;
    handle(sdoc, value);
  });

  if (sawManifest) for (const report of shapeless) report();
  source.release();
  return {
    path,
    source,
    manifests,
    ignored,
    diagnostics: diags.items,
    notManifests: !sawManifest && shapeless.length > 0,
    ratesFile: !sawManifest && shapeless.length > 0 && ratesLike,
  };
}
