// The five synthetic profiles of the whitepaper's corpus (chapter 4), with their length, turn and
// think-time distributions. Sizes are in tokens (o200k), times in milliseconds. docs/workload.md
// tables these values and explains the calibration; `tollgate synth --params FILE` overrides any
// of them (same field names, JSON).
import { meanOf, type Dist } from '../random.js';

export type SynthKind = 'toolbench' | 'terminal' | 'omniact' | 'swe';

export interface SynthProfile {
  /** Generator name on the command line and stream name in the corpus. */
  readonly name: string;
  readonly kind: SynthKind;
  /** The whitepaper's profile letter (the harness picks the arrival process by it). */
  readonly profile: string;
  /** `x-workload-app` value. */
  readonly app: string;
  /** Sessions in the default 20,865-session corpus. */
  readonly sessions: number;
  /** Size of the per-profile system prompt, identical in every session (the shareable prefix). */
  readonly systemTokens: number;
  /** A per-session part appended to the system prompt (ToolBench's API list); absent: none. */
  readonly preamble?: Dist;
  /** The task: first user message. */
  readonly task: Dist;
  /** Screen size in tokens for UI tasks (element list sent with the task). */
  readonly screen?: Dist;
  /** Requests per session (assistant turns). */
  readonly turns: Dist;
  /** Tool / terminal output between turns. */
  readonly observation: Dist;
  /** Visible assistant output (kept in the history). */
  readonly visible: Dist;
  /** Reasoning output (counted in output_tokens, dropped from the history as gpt-oss does). */
  readonly reasoning: Dist;
  /** Think time before each turn after the first: tool execution plus client-side pause. */
  readonly think: Dist;
}

export const DEFAULT_PROFILES: readonly SynthProfile[] = [
  {
    name: 'toolbench',
    kind: 'toolbench',
    profile: 'A',
    app: 'toolbench-agent',
    sessions: 5000,
    systemTokens: 450,
    preamble: { kind: 'lognormal', median: 900, sigma: 0.5, min: 150, max: 4000 },
    task: { kind: 'lognormal', median: 70, sigma: 0.5, min: 15, max: 400 },
    turns: { kind: 'lognormal', median: 4, sigma: 0.45, min: 2, max: 12 },
    observation: { kind: 'lognormal', median: 280, sigma: 1.0, min: 10, max: 4000 },
    visible: { kind: 'exponential', mean: 90, min: 12, max: 800 },
    reasoning: { kind: 'exponential', mean: 280, max: 4000 },
    think: { kind: 'lognormal', median: 3000, sigma: 1.0, max: 120_000 },
  },
  {
    name: 'terminal-bench',
    kind: 'terminal',
    profile: 'B',
    app: 'terminal-bench-ci',
    sessions: 865,
    systemTokens: 750,
    task: { kind: 'lognormal', median: 200, sigma: 0.7, min: 30, max: 2000 },
    turns: { kind: 'lognormal', median: 14, sigma: 0.6, min: 3, max: 80 },
    observation: { kind: 'pareto', xm: 40, alpha: 1.1, max: 16_000 },
    visible: { kind: 'exponential', mean: 160, min: 20, max: 1500 },
    reasoning: { kind: 'exponential', mean: 250, max: 4000 },
    think: { kind: 'lognormal', median: 5000, sigma: 1.2, max: 300_000 },
  },
  {
    name: 'omniact',
    kind: 'omniact',
    profile: 'C',
    app: 'omniact-ui',
    sessions: 5000,
    systemTokens: 500,
    task: { kind: 'lognormal', median: 25, sigma: 0.4, min: 6, max: 120 },
    screen: { kind: 'lognormal', median: 1100, sigma: 0.35, min: 300, max: 4000 },
    turns: { kind: 'const', value: 1 },
    observation: { kind: 'const', value: 0 },
    visible: { kind: 'exponential', mean: 60, min: 8, max: 600 },
    reasoning: { kind: 'exponential', mean: 300, max: 4000 },
    think: { kind: 'const', value: 0 },
  },
  {
    name: 'swe-rebench',
    kind: 'swe',
    profile: 'D',
    app: 'swe-rebench-ide',
    sessions: 5000,
    systemTokens: 1800,
    task: { kind: 'lognormal', median: 450, sigma: 0.8, min: 50, max: 6000 },
    turns: { kind: 'lognormal', median: 14, sigma: 0.5, min: 4, max: 100 },
    observation: { kind: 'lognormal', median: 220, sigma: 1.0, min: 5, max: 12_000 },
    visible: { kind: 'exponential', mean: 130, min: 10, max: 2000 },
    reasoning: { kind: 'exponential', mean: 270, max: 4000 },
    think: { kind: 'lognormal', median: 4500, sigma: 1.0, max: 300_000 },
  },
  {
    name: 'coderforge',
    kind: 'swe',
    profile: 'D',
    app: 'coderforge-ide',
    sessions: 5000,
    systemTokens: 1400,
    task: { kind: 'lognormal', median: 500, sigma: 0.8, min: 50, max: 6000 },
    turns: { kind: 'lognormal', median: 15, sigma: 0.55, min: 4, max: 100 },
    observation: { kind: 'lognormal', median: 240, sigma: 1.0, min: 5, max: 12_000 },
    visible: { kind: 'exponential', mean: 150, min: 10, max: 2000 },
    reasoning: { kind: 'exponential', mean: 250, max: 4000 },
    think: { kind: 'lognormal', median: 4500, sigma: 1.0, max: 300_000 },
  },
];

export const DEFAULT_SESSIONS = DEFAULT_PROFILES.reduce((a, p) => a + p.sessions, 0);

/** Applies a `--params` override object: `{ "<profile name>": { "<field>": value, … }, … }`. */
export function applyOverrides(profiles: readonly SynthProfile[], overrides: unknown): SynthProfile[] | string {
  if (typeof overrides !== 'object' || overrides === null || Array.isArray(overrides)) return 'the params file must hold a JSON object keyed by profile name';
  const byName = new Map(profiles.map((p) => [p.name, p]));
  const out = new Map(byName);
  for (const [name, fields] of Object.entries(overrides as Record<string, unknown>)) {
    const base = byName.get(name);
    if (base === undefined) return `params: unknown profile "${name}" (one of ${[...byName.keys()].join(', ')})`;
    if (typeof fields !== 'object' || fields === null) return `params.${name} must be an object`;
    const merged: Record<string, unknown> = { ...base };
    for (const [k, v] of Object.entries(fields as Record<string, unknown>)) {
      if (k === 'name' || k === 'kind') return `params.${name}.${k} cannot be changed`;
      if (!(k in base) && k !== 'preamble' && k !== 'screen') return `params.${name}: unknown field "${k}"`;
      if (['app', 'profile'].includes(k)) {
        if (typeof v !== 'string' || !/^[A-Za-z0-9._-]{1,64}$/.test(v)) return `params.${name}.${k} must be a short name ([A-Za-z0-9._-])`;
      } else if (k === 'sessions' || k === 'systemTokens') {
        if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) return `params.${name}.${k} must be a non-negative integer`;
      } else {
        const problem = checkDist(v);
        if (problem !== undefined) return `params.${name}.${k}: ${problem}`;
      }
      merged[k] = v;
    }
    out.set(name, merged as unknown as SynthProfile);
  }
  return profiles.map((p) => out.get(p.name) ?? p);
}

function checkDist(v: unknown): string | undefined {
  if (typeof v !== 'object' || v === null) return 'must be a distribution object, e.g. {"kind":"lognormal","median":300,"sigma":1}';
  const d = v as Record<string, unknown>;
  const need: Record<string, string[]> = {
    const: ['value'],
    lognormal: ['median', 'sigma'],
    pareto: ['xm', 'alpha'],
    exponential: ['mean'],
    uniform: ['min', 'max'],
  };
  const fields = typeof d['kind'] === 'string' ? need[d['kind']] : undefined;
  if (fields === undefined) return `kind must be one of ${Object.keys(need).join(', ')}`;
  for (const f of [...fields, 'min', 'max']) {
    const x = d[f];
    if (x === undefined && !fields.includes(f)) continue;
    if (typeof x !== 'number' || !Number.isFinite(x) || x < 0) return `"${f}" must be a non-negative number`;
  }
  return undefined;
}

/** Rough per-profile means, for the docs and the calibration check in the tests. */
export function expectedMeans(p: SynthProfile): { outputTokens: number; thinkMs: number; turns: number } {
  return { outputTokens: meanOf(p.visible) + meanOf(p.reasoning), thinkMs: meanOf(p.think), turns: meanOf(p.turns) };
}
