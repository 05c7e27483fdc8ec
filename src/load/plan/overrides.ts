// Command-line overrides of a plan: each flag replaces one part and is validated like the file.
import { parseDuration, PlanError } from './fields.js';
import type { Phase, Plan, RampPhase, TelemetryTarget } from './types.js';

export interface Overrides {
  readonly mode?: string;
  readonly users?: string;
  readonly rate?: string;
  readonly duration?: string;
  readonly ramp?: string;
  readonly stepDuration?: string;
  readonly soak?: string;
  readonly soakFraction?: string;
  readonly mix?: string;
  readonly seed?: string;
  readonly telemetry?: readonly string[];
  readonly prometheus?: readonly string[];
  readonly headers?: readonly string[];
  readonly reference?: string;
  readonly sloTtft?: string;
  readonly maxErrorRate?: string;
  readonly interval?: string;
}

export function applyOverrides(plan: Plan, o: Overrides): Plan {
  const problems: string[] = [];
  const num = (flag: string, v: string, opts: { int?: boolean; min?: number } = {}): number => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n) || (opts.int === true && !Number.isInteger(n)) || (opts.min !== undefined && n < opts.min) || n <= 0) {
      problems.push(`${flag}: "${v}" must be a positive ${opts.int === true ? 'whole ' : ''}number`);
      return 1;
    }
    return n;
  };
  const dur = (flag: string, v: string, allowZero = false): number => {
    const d = parseDuration(/^\d+(\.\d+)?$/.test(v) ? Number(v) : v);
    if (d === undefined || d < 0 || (!allowZero && d === 0)) {
      problems.push(`${flag}: "${v}" must be a duration such as 300, 90s, 5m or 1h`);
      return 1;
    }
    return d;
  };
  let p: Plan = plan;
  if (o.mode !== undefined) {
    if (o.mode !== 'users' && o.mode !== 'rate') problems.push(`--mode: "${o.mode}" must be users or rate`);
    else p = { ...p, mode: o.mode };
  }
  if (o.users !== undefined && o.rate !== undefined) problems.push('--users and --rate: give one of them');
  const steadyLevel = o.users !== undefined ? num('--users', o.users, { int: true }) : o.rate !== undefined ? num('--rate', o.rate) : undefined;
  if (steadyLevel !== undefined) {
    const mode = o.users !== undefined ? 'users' : 'rate';
    const duration = o.duration === undefined ? 60 : dur('--duration', o.duration);
    p = { ...p, mode, phases: [{ kind: 'steady', name: 'steady', level: steadyLevel, duration_s: duration }] };
  } else if (o.duration !== undefined) {
    p = { ...p, max_duration_s: dur('--duration', o.duration) };
  }
  if (o.ramp !== undefined || o.stepDuration !== undefined) {
    let phases: Phase[] = [...p.phases];
    let ramp = phases.find((x): x is RampPhase => x.kind === 'ramp');
    if (ramp === undefined) {
      ramp = { kind: 'ramp', name: 'ramp', start: 10, step: 10, factor: 1, max: 400, step_s: 120, settle_s: 30, max_extensions: 1, drift_tolerance: 0.5 };
      phases = [ramp, ...phases.filter((x) => x.kind !== 'steady')];
    }
    let next: RampPhase = ramp;
    if (o.ramp !== undefined) {
      const parts = o.ramp.split(':');
      if (parts.length !== 3) problems.push(`--ramp: "${o.ramp}" must be START:STEP:MAX, e.g. 20:20:400`);
      else {
        const [a, b, c] = parts.map((x, i) => num('--ramp', x ?? '', p.mode === 'users' ? { int: true, min: i === 1 ? 0 : 1 } : {}));
        next = { ...next, start: a ?? 1, step: b ?? 1, max: c ?? 1 };
        if ((c ?? 0) < (a ?? 0)) problems.push(`--ramp: MAX (${c}) must be at least START (${a})`);
      }
    }
    if (o.stepDuration !== undefined) {
      const s = dur('--step-duration', o.stepDuration);
      next = { ...next, step_s: s, settle_s: Math.min(next.settle_s, s / 4) };
    }
    p = { ...p, phases: phases.map((x) => (x === ramp ? next : x)) };
  }
  if (o.soak !== undefined || o.soakFraction !== undefined) {
    const soakS = o.soak === undefined ? undefined : dur('--soak', o.soak, true);
    const fraction = o.soakFraction === undefined ? undefined : num('--soak-fraction', o.soakFraction);
    if (fraction !== undefined && fraction > 1) problems.push(`--soak-fraction: ${fraction} must be at most 1`);
    let phases: Phase[] = p.phases.filter((x) => x.kind !== 'soak');
    const old = p.phases.find((x) => x.kind === 'soak');
    if (soakS !== 0) {
      if (!phases.some((x) => x.kind === 'ramp')) problems.push('--soak: a soak runs at a fraction of the ramp\'s T2 level; the plan has no ramp (add --ramp)');
      phases = [...phases, { kind: 'soak', name: old?.name ?? 'soak', fraction: fraction ?? (old?.kind === 'soak' ? old.fraction : 0.85), level: undefined, duration_s: soakS ?? (old?.kind === 'soak' ? old.duration_s : 600) }];
    }
    p = { ...p, phases };
  }
  if (o.mix !== undefined) {
    const mix: Record<string, number> = {};
    for (const part of o.mix.split(',')) {
      const [k, v] = part.split('=');
      if (k === undefined || k.trim() === '' || v === undefined) problems.push(`--mix: "${part}" must be PROFILE=SHARE, e.g. A=0.2`);
      else mix[k.trim()] = num('--mix', v);
    }
    p = { ...p, mix };
  }
  if (o.seed !== undefined) p = { ...p, seed: num('--seed', o.seed, { int: true }) };
  const targets: TelemetryTarget[] = [...p.telemetry.targets];
  for (const t of o.telemetry ?? []) {
    const eq = t.indexOf('=');
    const name = eq > 0 && !t.slice(0, eq).includes('/') ? t.slice(0, eq) : `target${targets.length + 1}`;
    const url = eq > 0 && !t.slice(0, eq).includes('/') ? t.slice(eq + 1) : t;
    if (!/^https?:\/\//.test(url)) problems.push(`--telemetry: "${t}" must be [NAME=]URL of a Prometheus /metrics endpoint`);
    else targets.push({ name, kind: 'metrics', url, match: undefined });
  }
  for (const t of o.prometheus ?? []) {
    const hash = t.indexOf('#');
    const url = hash < 0 ? t : t.slice(0, hash);
    if (!/^https?:\/\//.test(url)) problems.push(`--prometheus: "${t}" must be URL[#SELECTOR], e.g. http://prometheus:9090#{job="vllm"}`);
    else targets.push({ name: `prometheus${targets.length + 1}`, kind: 'prometheus', url, match: hash < 0 ? undefined : t.slice(hash + 1) });
  }
  const interval = o.interval === undefined ? p.telemetry.interval_s : dur('--scrape-interval', o.interval);
  p = { ...p, telemetry: { interval_s: interval, targets } };
  if (o.headers !== undefined && o.headers.length > 0) {
    const headers: Record<string, string> = { ...p.request.headers };
    for (const h of o.headers) {
      const colon = h.indexOf(':');
      const name = colon < 0 ? '' : h.slice(0, colon).trim().toLowerCase();
      if (!/^[!#$%&'*+.^_`|~0-9a-z-]+$/.test(name)) problems.push('--header: must be "Name: value" (value not shown)');
      else headers[name] = h.slice(colon + 1).trim();
    }
    p = { ...p, request: { ...p.request, headers } };
  }
  if (o.reference !== undefined) {
    if (o.reference !== 'whitepaper') problems.push(`--reference: "${o.reference}" must be whitepaper`);
    else p = { ...p, reference: 'whitepaper' };
  }
  if (o.sloTtft !== undefined) p = { ...p, slo: { ...p.slo, ttft_s: dur('--slo-ttft', o.sloTtft) } };
  if (o.maxErrorRate !== undefined) {
    const v = o.maxErrorRate.trim().endsWith('%') ? Number(o.maxErrorRate.trim().slice(0, -1)) / 100 : Number(o.maxErrorRate);
    if (o.maxErrorRate.trim() === '' || !(v >= 0 && v <= 1)) problems.push(`--max-error-rate: "${o.maxErrorRate}" must be a fraction from 0 to 1 (or a percentage, 5%)`);
    else p = { ...p, slo: { ...p.slo, error_rate: v } };
  }
  if (problems.length > 0) throw new PlanError(problems, 'command line');
  return p;
}
