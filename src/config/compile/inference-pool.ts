// InferencePool → BackendConfig with a pool: an OpenAI-compatible (vLLM) backend whose endpoints
// come from the `tollgate.io/endpoints` annotation and are chosen per request by the built-in
// endpoint picker. The pod selector and the external picker (EPP) only mean something inside
// Kubernetes; they are reported, not enforced.
import { isIP } from 'node:net';
import type { Manifest } from '../parse.js';
import { DEFAULT_CONNECT_TIMEOUT_MS, type BackendConfig, type Endpoint, type InferencePoolConfig, type PickStrategy, type ScorerName } from '../types.js';
import { compileRequestKeyExpression, REQUEST_CEL_VARIABLES } from '../../limits/cel-request.js';
import { checkHeaderName, checkHostname, parseDuration } from '../units.js';
import { type Ctx, error, sourceRef, warn } from './context.js';
import { compileBodyMutation, compileHeaderMutation } from './mutations.js';

export const INFERENCE_GROUP = 'inference.networking.k8s.io';
/** Key prefix that keeps pools apart from AIServiceBackends of the same name. */
export const POOL_KEY_PREFIX = 'InferencePool/';

export const ENDPOINTS_ANNOTATION = 'tollgate.io/endpoints';
const STRATEGY_ANNOTATION = 'tollgate.io/endpoint-picker';
const WEIGHTS_ANNOTATION = 'tollgate.io/picker-weights';
const SCRAPE_ANNOTATION = 'tollgate.io/scrape-interval';
const METRICS_PATH_ANNOTATION = 'tollgate.io/metrics-path';
const SESSION_ANNOTATION = 'tollgate.io/session-header';
const SESSION_CEL_ANNOTATION = 'tollgate.io/session-key-cel';
const DEBUG_ANNOTATION = 'tollgate.io/picker-debug';
const DNS_ANNOTATION = 'tollgate.io/dns-servers';
const PREFIX_BLOCKS_ANNOTATION = 'tollgate.io/prefix-max-blocks';
const MAX_PREFIX_BLOCKS = 4096;
/** Envoy AI Gateway's ext_proc settings: there is no ext_proc in Tollgate. */
const EXT_PROC_ANNOTATIONS = ['aigateway.envoyproxy.io/processing-body-mode', 'aigateway.envoyproxy.io/allow-mode-override'];

const STRATEGIES: readonly PickStrategy[] = ['picker', 'round-robin', 'least-request'];
export const SCORERS: readonly ScorerName[] = ['queue', 'kv-cache', 'prefix-cache', 'prefill'];

// llm-d's defaults where it has one: a 31,250 entry LRU per server, queue and KV-cache scorers
// weighted 2 and prefix-cache affinity 3, a replica saturated from 5 waiting requests or 80%
// KV-cache use. Blocks are 256 request-body bytes (about 64 tokens, four of vLLM's blocks; llm-d
// hashes 64 characters). Only the first 32 blocks (8 KiB) of the prompt are hashed: a whole 100 KB
// conversation costs eight times as much per pick, while a session's turns already share their
// first 8 KiB, which is what affinity needs. llm-d's default profile has no prefill scorer; its
// weight here is what the picker benchmark measured best (docs/routing.md).
export const DEFAULT_WEIGHTS: Readonly<Record<ScorerName, number>> = { queue: 2, 'kv-cache': 2, 'prefix-cache': 3, prefill: 2 };

export const PICKER_DEFAULTS = {
  scrapeIntervalMs: 200,
  queueThreshold: 5,
  kvCacheThreshold: 0.8,
  prefixBlockBytes: 256,
  prefixMaxBlocks: 32,
  prefixLruPerEndpoint: 31_250,
};

function poolKey(namespace: string, name: string): string {
  return `${POOL_KEY_PREFIX}${namespace}/${name}`;
}

export function compileInferencePool(ctx: Ctx, m: Manifest<'InferencePool'>): BackendConfig | undefined {
  const spec = m.value.spec;
  const ann = m.value.metadata.annotations ?? {};
  const errorsBefore = ctx.diags.errorCount;
  const at = (key: string): readonly PropertyKey[] => ['metadata', 'annotations', key];
  const text = (key: string): string | undefined => {
    const v = ann[key];
    if (v === undefined) return undefined;
    if (typeof v === 'string') return v.trim();
    error(ctx, m, at(key), `annotation ${key} must be a string`, 'quote it in YAML, e.g. "true"');
    return undefined;
  };

  const ref = spec.endpointPickerRef;
  if (ref !== undefined) {
    warn(
      ctx,
      m,
      ['spec', 'endpointPickerRef'],
      `the external endpoint picker ${ref.kind ?? 'Service'} ${ref.name} is ignored: Tollgate picks this pool's endpoints itself`,
      `tune the built-in picker with annotations ${STRATEGY_ANNOTATION}, ${WEIGHTS_ANNOTATION}, ${SESSION_ANNOTATION} or ${SESSION_CEL_ANNOTATION}`,
    );
  }
  for (const k of EXT_PROC_ANNOTATIONS) if (ann[k] !== undefined) warn(ctx, m, at(k), `annotation ${k} configures Envoy's external processor and has no effect in Tollgate`, undefined, true);

  const defaultPort = spec.targetPorts[0]?.number ?? 8000;
  const endpoints: Endpoint[] = [];
  const list = text(ENDPOINTS_ANNOTATION);
  if (list === undefined) {
    warn(
      ctx,
      m,
      ['spec', 'selector'],
      'this InferencePool has no endpoints outside Kubernetes: its selector picks pods, which Tollgate cannot see, so requests to it fail with 503',
      `list the replicas in annotation ${ENDPOINTS_ANNOTATION}: "host:port,host:port" (a host name with several A records counts as several replicas)`,
    );
  } else {
    const seen = new Set<string>();
    for (const item of list.split(',')) {
      const s = item.trim();
      if (s === '') continue;
      const ep = parseEndpoint(s, defaultPort);
      if (typeof ep === 'string') {
        error(ctx, m, at(ENDPOINTS_ANNOTATION), `endpoint "${s}" ${ep}`, 'endpoints are "host:port" separated by commas, e.g. "10.0.0.5:8000,vllm-1.internal:8000"');
        continue;
      }
      const id = `${ep.host}:${ep.port}`;
      if (seen.has(id)) {
        warn(ctx, m, at(ENDPOINTS_ANNOTATION), `endpoint ${id} is listed twice; it counts once`);
        continue;
      }
      seen.add(id);
      endpoints.push(ep);
    }
    if (endpoints.length === 0 && ctx.diags.errorCount === errorsBefore) {
      error(ctx, m, at(ENDPOINTS_ANNOTATION), 'the endpoint list is empty', 'e.g. "10.0.0.5:8000,10.0.0.6:8000"');
    }
  }

  const dnsServers: string[] = [];
  const dnsText = text(DNS_ANNOTATION);
  if (dnsText !== undefined) {
    for (const item of dnsText.split(',')) {
      const s = item.trim();
      if (s === '') continue;
      const ep = parseEndpoint(s, 53);
      if (typeof ep === 'string' || ep.kind !== 'ip') {
        error(ctx, m, at(DNS_ANNOTATION), `DNS server "${s}" is not an IP address with an optional port`, 'e.g. "10.96.0.10" or "10.96.0.10:53,[fd00::a]:53"');
        continue;
      }
      dnsServers.push(ep.host.includes(':') ? `[${ep.host}]:${ep.port}` : `${ep.host}:${ep.port}`);
    }
    if (!endpoints.some((e) => e.kind === 'fqdn')) warn(ctx, m, at(DNS_ANNOTATION), `annotation ${DNS_ANNOTATION} has no effect: no endpoint is a host name`, undefined, true);
  }

  const strategyText = text(STRATEGY_ANNOTATION) ?? 'picker';
  const strategy = STRATEGIES.find((s) => s === strategyText);
  if (strategy === undefined) error(ctx, m, at(STRATEGY_ANNOTATION), `unknown endpoint picker "${strategyText}"`, `one of ${STRATEGIES.join(', ')}`);

  const weights: Record<ScorerName, number> = { ...DEFAULT_WEIGHTS };
  const weightText = text(WEIGHTS_ANNOTATION);
  if (weightText !== undefined) {
    for (const part of weightText.split(',')) {
      const [name, value] = part.split('=').map((x) => x.trim());
      const scorer = SCORERS.find((s) => s === name);
      const w = Number(value);
      if (scorer === undefined || value === undefined || value === '' || !Number.isFinite(w) || w < 0) {
        error(ctx, m, at(WEIGHTS_ANNOTATION), `"${part.trim()}" is not scorer=weight`, `scorers: ${SCORERS.join(', ')}; weights are numbers >= 0, e.g. "queue=2,kv-cache=1,prefix-cache=3"`);
        continue;
      }
      weights[scorer] = w;
    }
  }

  let scrapeIntervalMs = PICKER_DEFAULTS.scrapeIntervalMs;
  const scrapeText = text(SCRAPE_ANNOTATION);
  if (scrapeText !== undefined) {
    const d = parseDuration(scrapeText);
    if (!d.ok || d.value < 10 || d.value > 60_000) error(ctx, m, at(SCRAPE_ANNOTATION), `scrape interval "${scrapeText}" must be a duration from 10ms to 60s`, 'e.g. "200ms" or "1s"');
    else scrapeIntervalMs = d.value;
  }

  const metricsPath = text(METRICS_PATH_ANNOTATION) ?? '/metrics';
  if (!metricsPath.startsWith('/') || /[\s?#]/.test(metricsPath)) error(ctx, m, at(METRICS_PATH_ANNOTATION), `"${metricsPath}" is not a URL path`, 'e.g. /metrics');

  const session = text(SESSION_ANNOTATION);
  if (session !== undefined && checkHeaderName(session) !== undefined) error(ctx, m, at(SESSION_ANNOTATION), `"${session}" is not a header name`, 'e.g. x-session-id');

  const sessionCelText = text(SESSION_CEL_ANNOTATION);
  let sessionKeyCel: InferencePoolConfig['sessionKeyCel'];
  if (sessionCelText !== undefined) {
    const compiled = compileRequestKeyExpression(sessionCelText);
    if (session !== undefined) {
      error(ctx, m, at(SESSION_CEL_ANNOTATION), `annotations ${SESSION_ANNOTATION} and ${SESSION_CEL_ANNOTATION} both set the session key`, 'keep one (a header is the same as the expression headers["name"])');
    } else if (!compiled.ok) {
      const where = compiled.offset === undefined ? '' : ` at column ${compiled.offset + 1}`;
      error(
        ctx,
        m,
        at(SESSION_CEL_ANNOTATION),
        `annotation ${SESSION_CEL_ANNOTATION} is not a valid CEL expression${where}: ${compiled.message}`,
        `variables: ${REQUEST_CEL_VARIABLES.join(', ')}; e.g. '"x-session-id" in headers ? headers["x-session-id"] : user'`,
      );
    } else sessionKeyCel = { source: sessionCelText, evaluate: compiled.evaluate };
  }

  let prefixMaxBlocks = PICKER_DEFAULTS.prefixMaxBlocks;
  const blocksText = text(PREFIX_BLOCKS_ANNOTATION);
  if (blocksText !== undefined) {
    const b = Number(blocksText);
    if (!/^\d+$/.test(blocksText) || b < 1 || b > MAX_PREFIX_BLOCKS) {
      error(ctx, m, at(PREFIX_BLOCKS_ANNOTATION), `"${blocksText}" must be a whole number of blocks from 1 to ${MAX_PREFIX_BLOCKS}`, `a block is ${PICKER_DEFAULTS.prefixBlockBytes} bytes of the prompt; e.g. "64" hashes its first 16 KiB`);
    } else prefixMaxBlocks = b;
  }

  const debug = text(DEBUG_ANNOTATION);
  if (debug !== undefined && debug !== 'true' && debug !== 'false') error(ctx, m, at(DEBUG_ANNOTATION), `"${debug}" must be "true" or "false"`);

  if (ctx.diags.errorCount > errorsBefore || strategy === undefined) return undefined;
  const pool: InferencePoolConfig = {
    key: m.key,
    strategy,
    endpoints,
    dnsServers,
    metricsPath,
    scrapeIntervalMs,
    // Three missed scrapes and the replica's own numbers no longer count.
    staleAfterMs: scrapeIntervalMs * 3,
    weights,
    queueThreshold: PICKER_DEFAULTS.queueThreshold,
    kvCacheThreshold: PICKER_DEFAULTS.kvCacheThreshold,
    prefixBlockBytes: PICKER_DEFAULTS.prefixBlockBytes,
    prefixMaxBlocks,
    prefixLruPerEndpoint: PICKER_DEFAULTS.prefixLruPerEndpoint,
    sessionHeader: session?.toLowerCase(),
    sessionKeyCel,
    debugHeader: debug === 'true',
  };
  return {
    key: poolKey(m.namespace, m.name),
    name: m.name,
    namespace: m.namespace,
    // Pool members are model servers (vLLM, SGLang, the simulator): OpenAI's API, at /v1.
    schema: { name: 'OpenAI', version: undefined, prefix: '/v1' },
    endpointsKey: poolKey(m.namespace, m.name),
    endpoints,
    tls: undefined,
    credential: undefined,
    headerMutation: compileHeaderMutation(ctx, m, [], undefined),
    bodyMutation: compileBodyMutation(ctx, m, [], undefined),
    requestTimeoutMs: undefined,
    connectTimeoutMs: DEFAULT_CONNECT_TIMEOUT_MS,
    pool,
    source: sourceRef(m),
  };
}

/** "host:port", "[v6]:port" or a bare host (then the pool's first target port). */
function parseEndpoint(s: string, defaultPort: number): Endpoint | string {
  let host = s;
  let port = defaultPort;
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(s);
  if (v6 !== null) {
    host = v6[1] ?? '';
    if (v6[2] !== undefined) port = Number(v6[2]);
  } else {
    const i = s.lastIndexOf(':');
    if (i >= 0) {
      host = s.slice(0, i);
      const p = s.slice(i + 1);
      if (!/^\d+$/.test(p)) return `has an invalid port "${p}"`;
      port = Number(p);
    }
  }
  if (!Number.isInteger(port) || port < 1 || port > 65535) return `has port ${port}, outside 1–65535`;
  if (isIP(host) !== 0) return { kind: 'ip', host, port };
  const why = checkHostname(host);
  if (why !== undefined) return `is not a host: ${why}`;
  return { kind: 'fqdn', host: host.toLowerCase(), port };
}
