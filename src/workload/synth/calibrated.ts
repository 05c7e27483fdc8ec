// The "calibrated" corpus: the `tollgate synth --params` overrides that make profiles B, C and D
// (the apps the seed scenario routes to the on-prem vLLM tier) follow the workload the simulator
// profile was calibrated with (docs/simulator.md): an 800-token system prompt, ~400-token tasks and
// tool outputs, ~3 turns per session, ~410 output tokens, exponential think times of 7.5 s.
// One home for both runs that replay it: the picker bench (src/bench/picker-setup.ts) and
// `npm run scenario:seed` (scripts/scenario-seed.mjs, which imports it from dist/). Changing a value
// changes both corpora; scenario:seed's corpus cache key hashes this object, so it re-synthesises.
import type { SynthProfile } from './profiles.js';

const turns = { kind: 'lognormal', median: 3, sigma: 0.5, min: 1, max: 10 } as const;
const visible = { kind: 'exponential', mean: 150, min: 10, max: 1500 } as const;
const reasoning = { kind: 'exponential', mean: 215, max: 3000 } as const;
const think = { kind: 'exponential', mean: 7500, max: 60000 } as const;

/** Keyed by synth profile name, fields as in SynthProfile; written to a JSON file for `--params`. */
export const CALIBRATED_PARAMS = {
  'terminal-bench': { systemTokens: 800, task: { kind: 'lognormal', median: 300, sigma: 0.8, min: 30, max: 3000 }, turns, observation: { kind: 'pareto', xm: 120, alpha: 1.5, max: 4000 }, visible, reasoning, think },
  omniact: { systemTokens: 800, visible, reasoning: { kind: 'exponential', mean: 260, max: 3000 } },
  'swe-rebench': { systemTokens: 800, task: { kind: 'lognormal', median: 400, sigma: 0.8, min: 50, max: 4000 }, turns, observation: { kind: 'lognormal', median: 300, sigma: 0.8, min: 5, max: 4000 }, visible, reasoning, think },
  coderforge: { systemTokens: 800, task: { kind: 'lognormal', median: 400, sigma: 0.8, min: 50, max: 4000 }, turns, observation: { kind: 'lognormal', median: 300, sigma: 0.8, min: 5, max: 4000 }, visible, reasoning, think },
} as const satisfies Readonly<Record<string, Partial<Omit<SynthProfile, 'name' | 'kind'>>>>;
