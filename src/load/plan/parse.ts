// Plan files (YAML or JSON) → a validated Plan. Every problem is reported with its path and what
// would fix it; unknown fields are errors, so a typo never silently runs the default.
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { ARRIVAL_KINDS, weibullShape, type ArrivalSpec } from '../arrivals/process.js';
import { DEFAULT_PLAN, defaultArrival } from './defaults.js';
import { Fields, isMap, PlanError } from './fields.js';
import {
  GATE_KINDS,
  type GateAction,
  type GateKind,
  type GateSpec,
  type GatesPlan,
  type Phase,
  type Plan,
  type ProfilePlan,
  type SignalSource,
  type TelemetryTarget,
} from './types.js';

export { PlanError } from './fields.js';

export function loadPlanFile(path: string): Plan {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new PlanError([`cannot read the plan: ${(err as NodeJS.ErrnoException).code ?? String(err)}`], path);
  }
  return parsePlan(text, path);
}

export function parsePlan(text: string, where = 'plan'): Plan {
  let doc: unknown;
  try {
    doc = where.toLowerCase().endsWith('.json') ? JSON.parse(text) : parseYaml(text, { maxAliasCount: 100 });
  } catch (err) {
    throw new PlanError([`not valid ${where.toLowerCase().endsWith('.json') ? 'JSON' : 'YAML'}: ${(err instanceof Error ? err.message : String(err)).split('\n')[0] ?? ''}`], where);
  }
  if (doc === null || doc === undefined) return DEFAULT_PLAN;
  if (!isMap(doc)) throw new PlanError(['the plan must be a mapping of fields (name, mode, phases, gates, …)'], where);
  const problems: string[] = [];
  const plan = readPlan(new Fields(doc, '', problems));
  if (problems.length > 0) throw new PlanError(problems, where);
  return plan;
}

function readPlan(f: Fields): Plan {
  const d = DEFAULT_PLAN;
  const mode = f.oneOf('mode', ['users', 'rate'] as const, d.mode);
  const plan: Plan = {
    name: f.str('name', d.name),
    mode,
    seed: f.num('seed', d.seed, { int: true, min: 0 }),
    mix: readMix(f),
    profiles: readProfiles(f),
    defaultGap_s: f.dur('session_gap', d.defaultGap_s, { min: 0 }),
    phases: readPhases(f, mode) ?? d.phases,
    gates: readGates(f),
    slo: readSlo(f),
    telemetry: readTelemetry(f),
    request: readRequest(f),
    harness: readHarness(f),
    max_duration_s: f.dur('max_duration', d.max_duration_s, { min: 0 }),
    reference: f.has('reference') ? f.oneOf('reference', ['whitepaper'] as const, 'whitepaper') : undefined,
  };
  f.unknown();
  checkPlan(plan, f);
  return plan;
}

function checkPlan(plan: Plan, f: Fields): void {
  plan.phases.forEach((p, i) => {
    if (p.kind === 'soak' && p.level === undefined && !plan.phases.slice(0, i).some((q) => q.kind === 'ramp')) {
      f.problem(`phases[${i}]`, 'a soak without `level` needs a ramp before it (it runs at `fraction` of the ramp\'s T2 level)');
    }
  });
  for (const [name, p] of Object.entries(plan.profiles)) {
    if (p.arrival.kind !== 'replay') continue;
    if (plan.mode !== 'rate') f.problem(`profiles.${name}.arrival`, 'replay arrivals need `mode: rate` (recorded times are open-loop session starts)');
    if (plan.phases.some((ph) => ph.kind !== 'steady')) f.problem(`profiles.${name}.arrival`, 'replay arrivals cannot be ramped or soaked: use steady phases (their level scales nothing; set `speed`)');
  }
}

function readMix(f: Fields): Record<string, number> | undefined {
  const m = f.map('mix');
  if (m === undefined) return undefined;
  const out: Record<string, number> = {};
  for (const k of Object.keys(m.obj)) out[k] = m.num(k, 0, { min: 0 });
  if (Object.keys(out).length > 0 && Object.values(out).every((v) => v === 0)) f.problem('mix', 'at least one profile needs a share above 0');
  return out;
}

function readProfiles(f: Fields): Record<string, ProfilePlan> {
  const m = f.map('profiles');
  const out: Record<string, ProfilePlan> = {};
  if (m === undefined) return out;
  for (const name of Object.keys(m.obj)) {
    const p = m.map(name);
    if (p === undefined) continue;
    const a = p.map('arrival');
    out[name] = {
      arrival: a === undefined ? defaultArrival(name) : readArrival(a, name),
      gap_s: p.optDur('session_gap', { min: 0 }),
    };
    p.unknown();
  }
  return out;
}

export function readArrival(a: Fields, profile: string): ArrivalSpec {
  const def = defaultArrival(profile);
  const kind = a.oneOf('kind', ARRIVAL_KINDS, def.kind);
  let spec: ArrivalSpec;
  switch (kind) {
    case 'exponential':
      spec = { kind };
      break;
    case 'gamma':
      spec = { kind, cv: a.num('cv', 1.5, { min: 0.05, max: 20 }) };
      break;
    case 'weibull': {
      const shape = a.optNum('shape', { min: 0.05, max: 50 });
      const cv = a.optNum('cv', { min: 0.05, max: 20 });
      if (shape !== undefined && cv !== undefined) a.problem('cv', 'give `shape` or `cv`, not both');
      spec = { kind, shape: weibullShape(shape, cv) };
      break;
    }
    case 'mmpp':
      spec = {
        kind,
        on_s: a.dur('on', 5, { min: 0, exclusiveMin: true }),
        off_s: a.dur('off', 45, { min: 0, exclusiveMin: true }),
        off_ratio: a.num('off_ratio', 0, { min: 0, max: 1 }),
      };
      break;
    case 'replay': {
      const source = a.oneOf('source', ['corpus', 'file'] as const, 'corpus');
      const file = a.optStr('file');
      if (source === 'file' && file === undefined) a.problem('file', 'replay from a file needs `file: PATH` (one arrival offset in seconds per line)');
      spec = { kind, source, speed: a.num('speed', 1, { min: 0, exclusiveMin: true }), ...(file === undefined ? {} : { file }) };
      break;
    }
    default: {
      const never: never = kind;
      throw new Error(String(never));
    }
  }
  a.unknown();
  return spec;
}

function readPhases(f: Fields, mode: string): Phase[] | undefined {
  const list = f.list('phases');
  if (list === undefined) return undefined;
  if (list.length === 0) {
    f.problem('phases', 'needs at least one phase');
    return undefined;
  }
  const out: Phase[] = [];
  const levelOpts = { min: 0, exclusiveMin: true, ...(mode === 'users' ? { int: true } : {}) };
  const names = new Set<string>();
  for (const { value, path } of list) {
    if (!isMap(value)) {
      f.problems.push(`${path}: must be a mapping with a kind (steady, ramp or soak)`);
      continue;
    }
    const p = new Fields(value, path, f.problems);
    const kind = p.oneOf('kind', ['steady', 'ramp', 'soak'] as const, 'steady');
    let name = p.str('name', kind);
    if (names.has(name)) name = `${name}-${out.length + 1}`;
    names.add(name);
    switch (kind) {
      case 'steady':
        out.push({ kind, name, level: p.num(['level', 'users', 'rate'], 10, levelOpts), duration_s: p.dur('duration', 60, { min: 0, exclusiveMin: true }) });
        break;
      case 'ramp': {
        const start = p.num(['start'], 10, levelOpts);
        const max = p.num(['max'], 400, levelOpts);
        const factor = p.num('factor', 1, { min: 1 });
        const step = p.num('step', factor > 1 ? 0 : Math.max(1, start), { min: 0, ...(mode === 'users' ? { int: true } : {}) });
        if (max < start) p.problem('max', `must be at least start (${start})`);
        if (factor === 1 && step <= 0) p.problem('step', 'must be above 0 (or set factor > 1 for a geometric ramp)');
        const step_s = p.dur('step_duration', 120, { min: 0, exclusiveMin: true });
        const settle_s = p.dur('settle', Math.min(30, step_s / 4), { min: 0 });
        if (settle_s >= step_s) p.problem('settle', `must be shorter than step_duration (${step_s} s)`);
        out.push({
          kind,
          name,
          start,
          step,
          factor,
          max,
          step_s,
          settle_s,
          max_extensions: p.num('max_extensions', 1, { int: true, min: 0 }),
          drift_tolerance: p.num('drift_tolerance', 0.5, { min: 0 }),
        });
        break;
      }
      case 'soak': {
        const level = p.optNum(['level', 'users', 'rate'], levelOpts);
        out.push({ kind, name, fraction: p.num('fraction', 0.85, { min: 0, max: 1, exclusiveMin: true }), level, duration_s: p.dur('duration', 600, { min: 0, exclusiveMin: true }) });
        break;
      }
      default: {
        const never: never = kind;
        throw new Error(String(never));
      }
    }
    p.unknown();
  }
  return out;
}

const GATE_KEYS: Record<string, GateKind> = {
  t2: 't2_ttft',
  t3: 't3_preemption',
  kv_cache: 'kv_cache',
  waiting_queue: 'waiting_queue',
  ttft_p99: 'ttft_p99',
  error_rate: 'error_rate',
};

function readGates(f: Fields): GatesPlan {
  const d = DEFAULT_PLAN.gates;
  const g = f.map('gates');
  if (g === undefined) return d;
  const window_s = g.dur('window', d.window_s, { min: 0, exclusiveMin: true });
  const sustain = g.num('sustain', d.sustain, { int: true, min: 1 });
  const min_samples = g.num('min_samples', d.min_samples, { int: true, min: 1 });
  const byKind = new Map<GateKind, GateSpec>(d.list.map((s) => [s.kind, s]));
  for (const [key, kind] of Object.entries(GATE_KEYS)) {
    const r = g.raw(key);
    if (r === undefined) continue;
    if (r.value === false || r.value === 'off') {
      byKind.delete(kind);
      continue;
    }
    const s = g.map(key);
    if (s === undefined) continue;
    const base = byKind.get(kind);
    const threshold = readThreshold(s, kind, base?.threshold);
    const action = s.oneOf<GateAction>('action', ['stop_ramp', 'abort'], base?.action ?? (kind === 't3_preemption' ? 'abort' : 'stop_ramp'));
    const source = s.oneOf<SignalSource>('source', ['client', 'engine'], base?.source ?? (kind === 't3_preemption' || kind === 'kv_cache' || kind === 'waiting_queue' ? 'engine' : 'client'));
    const profiles = s.strList('profiles') ?? [];
    s.unknown();
    if (threshold !== undefined) byKind.set(kind, { kind, threshold, action, source, profiles });
  }
  g.unknown();
  return { window_s, sustain, min_samples, list: GATE_KINDS.flatMap((k) => byKind.get(k) ?? []) };
}

function readThreshold(s: Fields, kind: GateKind, def: number | undefined): number | undefined {
  let v: number | undefined;
  switch (kind) {
    case 't2_ttft':
      v = s.optNum('factor', { min: 1, exclusiveMin: true });
      break;
    case 't3_preemption':
      v = s.optNum('max_rate', { min: 0, max: 1 });
      break;
    case 'error_rate':
    case 'kv_cache':
      v = s.optNum('max', { min: 0, max: 1 });
      break;
    case 'waiting_queue':
      v = s.optNum('max', { min: 0 });
      break;
    case 'ttft_p99':
      v = s.optDur('max', { min: 0, exclusiveMin: true });
      break;
    default: {
      const never: never = kind;
      throw new Error(String(never));
    }
  }
  const value = v ?? def;
  if (value === undefined) s.problem(kind === 't2_ttft' ? 'factor' : kind === 't3_preemption' ? 'max_rate' : 'max', 'the gate needs a threshold');
  return value;
}

function readSlo(f: Fields): Plan['slo'] {
  const s = f.map('slo');
  if (s === undefined) return DEFAULT_PLAN.slo;
  const slo = {
    ttft_s: s.optDur('ttft', { min: 0, exclusiveMin: true }),
    tpot_s: s.optDur('tpot', { min: 0, exclusiveMin: true }),
    e2e_s: s.optDur('e2e', { min: 0, exclusiveMin: true }),
    error_rate: s.num('error_rate', DEFAULT_PLAN.slo.error_rate, { min: 0, max: 1 }),
  };
  s.unknown();
  return slo;
}

function readTelemetry(f: Fields): Plan['telemetry'] {
  const t = f.map('telemetry');
  const d = DEFAULT_PLAN.telemetry;
  if (t === undefined) return d;
  const interval_s = t.dur('interval', d.interval_s, { min: 0.1 });
  const targets: TelemetryTarget[] = [];
  for (const { value, path } of t.list('targets') ?? []) {
    if (!isMap(value)) {
      f.problems.push(`${path}: must be {name, url} or {name, prometheus, match}`);
      continue;
    }
    const e = new Fields(value, path, f.problems);
    const url = e.optStr('url');
    const prom = e.optStr('prometheus');
    const name = e.str('name', `target${targets.length + 1}`);
    const match = e.optStr('match');
    if ((url === undefined) === (prom === undefined)) e.problem('url', 'give exactly one of `url` (a /metrics endpoint) or `prometheus` (a Prometheus server)');
    const u = url ?? prom ?? '';
    if (u !== '' && !/^https?:\/\//.test(u)) e.problem(url === undefined ? 'prometheus' : 'url', `must be an http(s) URL, got ${JSON.stringify(u)}`);
    if (targets.some((x) => x.name === name)) e.problem('name', `duplicate target name "${name}"`);
    e.unknown();
    targets.push({ name, kind: prom === undefined ? 'metrics' : 'prometheus', url: u, match });
  }
  t.unknown();
  return { interval_s, targets };
}

function readRequest(f: Fields): Plan['request'] {
  const r = f.map('request');
  const d = DEFAULT_PLAN.request;
  if (r === undefined) return d;
  const headers: Record<string, string> = {};
  const h = r.map('headers');
  if (h !== undefined) {
    for (const k of Object.keys(h.obj)) {
      const v = h.obj[k];
      if (typeof v !== 'string' && typeof v !== 'number') h.problem(k, 'header values must be strings');
      else if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(k)) h.problem(k, 'is not a valid header name');
      else headers[k.toLowerCase()] = String(v);
    }
  }
  const out = {
    timeout_s: r.dur('timeout', d.timeout_s, { min: 0, exclusiveMin: true }),
    idle_timeout_s: r.dur('idle_timeout', d.idle_timeout_s, { min: 0, exclusiveMin: true }),
    headers,
    on_error: r.oneOf('on_error', ['continue', 'end_session'] as const, d.on_error),
  };
  r.unknown();
  return out;
}

function readHarness(f: Fields): Plan['harness'] {
  const h = f.map('harness');
  const d = DEFAULT_PLAN.harness;
  if (h === undefined) return d;
  const w = h.raw('workers');
  let workers: number | 'auto' = d.workers;
  if (w !== undefined) {
    if (w.value === 'auto') workers = 'auto';
    else workers = h.num('workers', 1, { int: true, min: 0, max: 64 });
  }
  const out = {
    workers,
    max_lag_ms: h.num('max_lag_ms', d.max_lag_ms, { min: 0, exclusiveMin: true }),
    bin_s: h.dur('bin', d.bin_s, { min: 0.1 }),
    drain_s: h.dur('drain', d.drain_s, { min: 0 }),
  };
  h.unknown();
  return out;
}
