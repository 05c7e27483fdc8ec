// Scrapes the telemetry targets on a fixed tick (Prometheus endpoints directly, or a Prometheus
// server's HTTP API), keeps each tick's derived values per target, and answers the questions the
// gates and the report ask: a counter's increase over a window, a histogram's mean over a window,
// a gauge's latest value or mean.
import type { TelemetryTarget } from '../plan/types.js';
import { derive, isCounter, rolesOf, type Derived, type MetricKey } from './derive.js';
import { parsePromText, parseValue, type Sample } from './prom-text.js';

export interface Tick {
  /** Seconds since the run's origin, at the start of the scrape. */
  readonly t: number;
  readonly values: ReadonlyArray<Derived | undefined>;
}

export interface TargetStatus {
  readonly name: string;
  readonly kind: TelemetryTarget['kind'];
  readonly url: string;
  ok: number;
  failed: number;
  lastError: string | undefined;
  roles: Array<'engine' | 'dcgm' | 'gateway'>;
}

const SELECTOR = '__name__=~"vllm:.*|DCGM_FI_.*|tollgate_.*|gen_ai_.*"';

export class Telemetry {
  readonly ticks: Tick[] = [];
  readonly status: TargetStatus[];
  private timer: NodeJS.Timeout | undefined;
  private scraping = false;

  constructor(
    readonly targets: readonly TelemetryTarget[],
    private readonly origin: number,
  ) {
    this.status = targets.map((t) => ({ name: t.name, kind: t.kind, url: redactUrl(t.url), ok: 0, failed: 0, lastError: undefined, roles: [] }));
  }

  get enabled(): boolean {
    return this.targets.length > 0;
  }

  start(intervalMs: number): void {
    if (!this.enabled) return;
    void this.tick(intervalMs);
    this.timer = setInterval(() => void this.tick(intervalMs), intervalMs);
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One scrape of every target; skipped when the previous one is still running. */
  async tick(intervalMs: number): Promise<void> {
    if (this.scraping) return;
    this.scraping = true;
    const t = (Date.now() - this.origin) / 1000;
    try {
      const values = await Promise.all(this.targets.map((target, i) => this.scrape(target, i, Math.min(5000, Math.max(500, intervalMs)))));
      this.ticks.push({ t, values });
    } finally {
      this.scraping = false;
    }
  }

  private async scrape(target: TelemetryTarget, i: number, timeoutMs: number): Promise<Derived | undefined> {
    const st = this.status[i] as TargetStatus;
    try {
      const samples = target.kind === 'metrics' ? await scrapeText(target.url, timeoutMs) : await queryPrometheus(target.url, target.match, timeoutMs);
      const d = derive(samples);
      st.ok++;
      if (st.roles.length === 0) st.roles = rolesOf(d);
      return d;
    } catch (err) {
      st.failed++;
      st.lastError = err instanceof Error ? err.message : String(err);
      return undefined;
    }
  }

  // ---- questions --------------------------------------------------------------------------

  has(key: MetricKey): boolean {
    return this.ticks.some((tk) => tk.values.some((v) => v?.[key] !== undefined && Number.isFinite(v[key])));
  }

  /** Increase of a counter over (from, to] seconds, summed over targets; undefined when unknown. */
  delta(key: MetricKey, from: number, to: number): number | undefined {
    let total: number | undefined;
    for (let ti = 0; ti < this.targets.length; ti++) {
      let prev: number | undefined;
      let inc = 0;
      let seen = false;
      for (const tk of this.ticks) {
        if (tk.t > to) break;
        const v = tk.values[ti]?.[key];
        if (v === undefined || !Number.isFinite(v)) continue;
        if (tk.t <= from) {
          prev = v;
          continue;
        }
        if (prev !== undefined) {
          inc += v >= prev ? v - prev : v; // a reset starts the counter again from 0
          seen = true;
        }
        prev = v;
      }
      if (seen) total = (total ?? 0) + inc;
    }
    return total;
  }

  /** Mean of a histogram over (from, to] from its _sum and _count increases, seconds. */
  histMean(prefix: string, from: number, to: number): number | undefined {
    const s = this.delta(`${prefix}_sum` as MetricKey, from, to);
    const c = this.delta(`${prefix}_count` as MetricKey, from, to);
    if (s === undefined || c === undefined || c <= 0) return undefined;
    return s / c;
  }

  /** A gauge combined across targets (kv usage: the fullest; others: summed) at one tick. */
  combined(tk: Tick, key: MetricKey): number | undefined {
    let out: number | undefined;
    for (const v of tk.values) {
      const x = v?.[key];
      if (x === undefined || !Number.isFinite(x)) continue;
      out = out === undefined ? x : key === 'engine.kv_usage' || key === 'dcgm.gpu_util' ? Math.max(out, x) : out + x;
    }
    return out;
  }

  latest(key: MetricKey): number | undefined {
    for (let i = this.ticks.length - 1; i >= 0; i--) {
      const v = this.combined(this.ticks[i] as Tick, key);
      if (v !== undefined) return v;
    }
    return undefined;
  }

  /** Mean and max of a gauge over [from, to]. */
  gauge(key: MetricKey, from: number, to: number): { mean: number; max: number; n: number } | undefined {
    let sum = 0;
    let n = 0;
    let max = Number.NEGATIVE_INFINITY;
    for (const tk of this.ticks) {
      if (tk.t < from || tk.t > to) continue;
      const v = this.combined(tk, key);
      if (v === undefined) continue;
      sum += v;
      n++;
      max = Math.max(max, v);
    }
    return n === 0 ? undefined : { mean: sum / n, max, n };
  }

  /** Combined values per tick: gauges as they are, counters as rates per second between ticks. */
  series(key: MetricKey): Array<[number, number]> {
    const out: Array<[number, number]> = [];
    let prev: { t: number; v: number } | undefined;
    for (const tk of this.ticks) {
      const v = this.combined(tk, key);
      if (v === undefined) continue;
      if (!isCounter(key)) out.push([tk.t, v]);
      else if (prev !== undefined && tk.t > prev.t) out.push([tk.t, (v >= prev.v ? v - prev.v : v) / (tk.t - prev.t)]);
      prev = { t: tk.t, v };
    }
    return out;
  }

  /** Columnar dump for results.json: per target, per key, one value (or null) per tick. */
  dump(): TelemetryDump {
    const keys = new Set<MetricKey>();
    for (const tk of this.ticks) for (const v of tk.values) for (const k of Object.keys(v ?? {})) keys.add(k as MetricKey);
    return {
      t: this.ticks.map((tk) => round(tk.t, 3)),
      targets: this.status.map((st, ti) => {
        const series: Partial<Record<MetricKey, Array<number | null>>> = {};
        for (const k of keys) {
          const col = this.ticks.map((tk) => {
            const x = tk.values[ti]?.[k];
            return x === undefined || !Number.isFinite(x) ? null : x;
          });
          if (col.some((x) => x !== null)) series[k] = col;
        }
        return { name: st.name, kind: st.kind, url: st.url, roles: st.roles, ok: st.ok, failed: st.failed, last_error: st.lastError ?? null, series };
      }),
    };
  }

  /** Rebuilds the question-answering view from a dump (reports, merges). */
  static fromDump(d: TelemetryDump, origin = 0): Telemetry {
    const tel = new Telemetry(
      d.targets.map((t) => ({ name: t.name, kind: t.kind, url: t.url, match: undefined })),
      origin,
    );
    d.t.forEach((t, i) => {
      tel.ticks.push({
        t,
        values: d.targets.map((tg) => {
          const v: Derived = {};
          let any = false;
          for (const [k, col] of Object.entries(tg.series)) {
            const x = col?.[i];
            if (x !== null && x !== undefined) {
              v[k as MetricKey] = x;
              any = true;
            }
          }
          return any ? v : undefined;
        }),
      });
    });
    d.targets.forEach((tg, i) => {
      const st = tel.status[i];
      if (st === undefined) return;
      st.ok = tg.ok;
      st.failed = tg.failed;
      st.lastError = tg.last_error ?? undefined;
      st.roles = [...tg.roles];
    });
    return tel;
  }
}

export interface TelemetryDump {
  readonly t: readonly number[];
  readonly targets: ReadonlyArray<{
    readonly name: string;
    readonly kind: TelemetryTarget['kind'];
    readonly url: string;
    readonly roles: ReadonlyArray<'engine' | 'dcgm' | 'gateway'>;
    readonly ok: number;
    readonly failed: number;
    readonly last_error: string | null;
    readonly series: Partial<Record<MetricKey, ReadonlyArray<number | null>>>;
  }>;
}

async function scrapeText(url: string, timeoutMs: number): Promise<Sample[]> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), headers: { accept: 'text/plain;version=0.0.4' } });
  if (!res.ok) throw new Error(`HTTP ${res.status} from ${redactUrl(url)}`);
  return parsePromText(await res.text());
}

/** Instant query of a Prometheus server: every series the harness reads, optionally narrowed. */
export function promQuery(match: string | undefined): string {
  if (match === undefined || match.trim() === '') return `{${SELECTOR}}`;
  const m = /^\s*\{(.*)\}\s*$/s.exec(match);
  if (m === null) throw new Error(`match ${JSON.stringify(match)} is not a series selector such as {job="vllm"}`);
  const inner = (m[1] ?? '').trim();
  return `{${inner === '' ? '' : `${inner}, `}${SELECTOR}}`;
}

async function queryPrometheus(base: string, match: string | undefined, timeoutMs: number): Promise<Sample[]> {
  const url = `${base.replace(/\/+$/, '')}/api/v1/query?query=${encodeURIComponent(promQuery(match))}`;
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  if (!res.ok) throw new Error(`HTTP ${res.status} from ${redactUrl(base)}/api/v1/query`);
  const body = (await res.json()) as { status?: string; error?: string; data?: { resultType?: string; result?: Array<{ metric?: Record<string, string>; value?: [number, string] }> } };
  if (body.status !== 'success' || body.data?.resultType !== 'vector') throw new Error(`Prometheus query failed: ${body.error ?? body.status ?? 'unexpected answer'}`);
  const out: Sample[] = [];
  for (const r of body.data.result ?? []) {
    const { __name__: name, ...labels } = r.metric ?? {};
    const value = parseValue(r.value?.[1] ?? '');
    if (name !== undefined && value !== undefined) out.push({ name, labels, value });
  }
  return out;
}

/** URLs go into reports: drop any user:password part. */
export function redactUrl(u: string): string {
  try {
    const url = new URL(u);
    if (url.username !== '' || url.password !== '') {
      url.username = 'redacted';
      url.password = '';
    }
    return url.toString().replace(/\/$/, '');
  } catch {
    return u;
  }
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
