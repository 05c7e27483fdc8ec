// The endpoint picker's own cost per request, in-process: what one pick takes on the event loop for
// chat bodies of 1, 10 and 100 KB, next to round robin (which only counts) measured in the same run,
// and next to hashing the whole prompt (no block cap) to show what the cap saves.
import { DEFAULT_WEIGHTS, PICKER_DEFAULTS } from '../config/compile/inference-pool.js';
import type { InferencePoolConfig } from '../config/types.js';
import { PoolPicker } from '../upstream/pool/picker.js';
import type { EndpointHandle } from '../upstream/pools.js';

const REPLICAS = 4;
const SIZES_KB = [1, 10, 100] as const;
/** Distinct conversations per size; each is asked in several growing turns, as sessions are. */
const CONVERSATIONS = 32;
const TURNS = 4;
const REQ = { method: 'POST', url: '/v1/chat/completions', headers: {} } as const;

/** A pool of four made-up endpoints with the defaults' settings (the virtual comparison uses it too). */
export function pickerConfig(strategy: InferencePoolConfig['strategy'], prefixMaxBlocks: number): InferencePoolConfig {
  return {
    key: 'bench/pool',
    strategy,
    endpoints: Array.from({ length: REPLICAS }, (_, i) => ({ kind: 'ip', host: `10.0.0.${i + 1}`, port: 8000 }) as const),
    dnsServers: [],
    metricsPath: '/metrics',
    scrapeIntervalMs: PICKER_DEFAULTS.scrapeIntervalMs,
    staleAfterMs: PICKER_DEFAULTS.scrapeIntervalMs * 3,
    weights: DEFAULT_WEIGHTS,
    queueThreshold: PICKER_DEFAULTS.queueThreshold,
    kvCacheThreshold: PICKER_DEFAULTS.kvCacheThreshold,
    prefixBlockBytes: PICKER_DEFAULTS.prefixBlockBytes,
    prefixMaxBlocks,
    prefixLruPerEndpoint: PICKER_DEFAULTS.prefixLruPerEndpoint,
    sessionHeader: undefined,
    sessionKeyCel: undefined,
    debugHeader: false,
  };
}

function newPicker(cfg: InferencePoolConfig): PoolPicker {
  // Picking reads only the in-flight count of a handle; the connection pool is never touched
  // because the picker is not started (no scrapes), so none is opened.
  return new PoolPicker(cfg, (ep) => ({ origin: `http://${ep.host}:${ep.port}`, pool: undefined as unknown as EndpointHandle['pool'], downUntil: 0, consecutiveFailures: 0, inflight: 0 }), () => performance.now());
}

/** Chat bodies of about `kb` KB: a shared system prompt, then each conversation's own turns. */
function bodies(kb: number): Buffer[] {
  const out: Buffer[] = [];
  const system = 'You are a careful assistant. '.repeat(Math.ceil((kb * 1024 * 0.2) / 29));
  for (let c = 0; c < CONVERSATIONS; c++) {
    for (let t = 1; t <= TURNS; t++) {
      const turnBytes = Math.floor((kb * 1024 * 0.8 * t) / TURNS);
      const history = `conversation ${c}: ${'lorem ipsum dolor sit amet '.repeat(Math.ceil(turnBytes / 27))}`.slice(0, turnBytes);
      out.push(Buffer.from(JSON.stringify({ model: 'm', max_tokens: 256, stream: true, messages: [{ role: 'system', content: system }, { role: 'user', content: history }] })));
    }
  }
  return out;
}

/** Mean µs per pick over enough picks to fill about `budgetMs`. */
function timePicks(picker: PoolPicker, reqs: readonly Buffer[], budgetMs: number): number {
  const tried = new Set<EndpointHandle>();
  let n = 0;
  for (; n < reqs.length * 2; n++) picker.pick(REQ, reqs[n % reqs.length] as Buffer, tried, performance.now()); // warm-up
  let picks = 0;
  const start = performance.now();
  let now = start;
  while (now - start < budgetMs) {
    for (let i = 0; i < 200; i++) picker.pick(REQ, reqs[picks++ % reqs.length] as Buffer, tried, now);
    now = performance.now();
  }
  return ((now - start) * 1000) / picks;
}

/** The printed section: µs per pick by body size, round robin vs the picker (capped and not). */
export function pickCostSection(budgetMs = 400): string {
  const lines = [`pick cost in-process (${REPLICAS} endpoints, µs per pick; prefix cap ${PICKER_DEFAULTS.prefixMaxBlocks} blocks of ${PICKER_DEFAULTS.prefixBlockBytes} B):`];
  lines.push(`  ${'body'.padEnd(8)}${'round robin'.padStart(14)}${'picker'.padStart(12)}${'ratio'.padStart(8)}${'no cap'.padStart(12)}`);
  for (const kb of SIZES_KB) {
    const reqs = bodies(kb);
    const whole = Math.ceil(reqs.reduce((m, b) => Math.max(m, b.length), 0) / PICKER_DEFAULTS.prefixBlockBytes);
    const rr = timePicks(newPicker(pickerConfig('round-robin', PICKER_DEFAULTS.prefixMaxBlocks)), reqs, budgetMs);
    const capped = timePicks(newPicker(pickerConfig('picker', PICKER_DEFAULTS.prefixMaxBlocks)), reqs, budgetMs);
    const uncapped = timePicks(newPicker(pickerConfig('picker', whole)), reqs, budgetMs);
    lines.push(`  ${`${kb} KB`.padEnd(8)}${rr.toFixed(2).padStart(14)}${capped.toFixed(2).padStart(12)}${`${(capped / rr).toFixed(0)}×`.padStart(8)}${uncapped.toFixed(2).padStart(12)}`);
  }
  return `${lines.join('\n')}\n`;
}
