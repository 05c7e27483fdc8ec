import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../../src/workload/manifest.js';
import { CALIBRATED_PARAMS } from '../../src/workload/synth/calibrated.js';
import { applyOverrides, DEFAULT_PROFILES } from '../../src/workload/synth/profiles.js';
import { planProfiles, runSynth, type SynthOptions } from '../../src/workload/synth/run.js';
import { synthWorkerScript } from '../../src/workload/synth/threads.js';
import { checkCorpus, readAll, tempDir } from './helpers.js';

const base: Omit<SynthOptions, 'out'> = {
  seed: 7,
  selection: [{ name: 'toolbench', count: 12 }, { name: 'terminal-bench', count: 3 }, { name: 'omniact', count: 10 }, { name: 'swe-rebench', count: 4 }, { name: 'coderforge', count: 4 }],
  model: 'gpt-oss-120b',
  layout: 'delta',
  stream: true,
  thinkScale: 1,
  partBytes: 48 * 1024,
  maxTokensField: 'max_tokens',
  exactLength: false,
  replace: false,
  threads: 2,
};

function filesOf(dir: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const stream of readdirSync(dir, { withFileTypes: true })) {
    if (!stream.isDirectory()) continue;
    for (const f of readdirSync(join(dir, stream.name))) if (f.endsWith('.tgw')) out.set(`${stream.name}/${f}`, readFileSync(join(dir, stream.name, f)));
  }
  return out;
}

describe('tollgate synth', () => {
  let dir: string;
  let manifest: Manifest;
  beforeAll(async () => {
    dir = tempDir('synth');
    manifest = await runSynth({ ...base, out: dir });
  });

  it('writes the five profiles with their apps, and a manifest with per-profile statistics', () => {
    expect(manifest.streams.map((s) => [s.name, s.profile, s.app, s.sessions])).toEqual([
      ['coderforge', 'D', 'coderforge-ide', 4],
      ['omniact', 'C', 'omniact-ui', 10],
      ['swe-rebench', 'D', 'swe-rebench-ide', 4],
      ['terminal-bench', 'B', 'terminal-bench-ci', 3],
      ['toolbench', 'A', 'toolbench-agent', 12],
    ]);
    expect(Object.keys(manifest.profiles)).toEqual(['A', 'B', 'C', 'D']);
    expect(manifest.profiles['D']?.sessions).toBe(8);
    expect(manifest.totals.stats.prompt_tokens.count).toBe(manifest.totals.requests);
    expect(manifest.streams.find((s) => s.name === 'swe-rebench')!.parts.length).toBeGreaterThan(1);
  });

  it('emits only strictly valid bodies whose envelopes match them (token counts exact)', async () => {
    const sessions = await checkCorpus(dir);
    expect(sessions.length).toBe(33);
    const omni = sessions.filter((s) => s.app === 'omniact-ui');
    expect(omni.every((s) => s.turns.length === 1)).toBe(true);
    const swe = sessions.filter((s) => s.app === 'swe-rebench-ide');
    // Growing context: every turn's prompt extends the previous one.
    for (const s of swe) for (let k = 1; k < s.turns.length; k++) expect(s.turns[k]!.meta.prompt_tokens).toBeGreaterThan(s.turns[k - 1]!.meta.prompt_tokens);
    // Think times: none before a first turn, some before later ones.
    expect(sessions.every((s) => s.turns[0]!.meta.think_ms === 0)).toBe(true);
    expect(swe.flatMap((s) => s.turns.slice(1)).some((t) => t.meta.think_ms > 0)).toBe(true);
  });

  it('is deterministic for a seed (on one thread or several), and different for another seed', async () => {
    // The first corpus was written by two worker threads; this one on the calling thread.
    expect(synthWorkerScript()).toBeDefined();
    const again = tempDir('synth2');
    await runSynth({ ...base, out: again, threads: 1 });
    const a = filesOf(dir);
    const b = filesOf(again);
    expect([...b.keys()]).toEqual([...a.keys()]);
    for (const [k, v] of a) expect(b.get(k)!.equals(v), k).toBe(true);
    const other = tempDir('synth3');
    await runSynth({ ...base, out: other, seed: 8 });
    expect(filesOf(other).get('toolbench/part-00000.tgw')!.equals(a.get('toolbench/part-00000.tgw')!)).toBe(false);
  });

  it('full and delta layouts carry identical bodies', async () => {
    const full = tempDir('synth-full');
    await runSynth({ ...base, out: full, layout: 'full', selection: [{ name: 'swe-rebench', count: 3 }] });
    const delta = tempDir('synth-delta');
    await runSynth({ ...base, out: delta, selection: [{ name: 'swe-rebench', count: 3 }] });
    const f = await readAll(full);
    const d = await readAll(delta);
    expect(f.flatMap((s) => s.turns.map((t) => t.body.toString()))).toEqual(d.flatMap((s) => s.turns.map((t) => t.body.toString())));
    const fm = JSON.parse(readFileSync(join(full, 'manifest.json'), 'utf8')) as Manifest;
    const dm = JSON.parse(readFileSync(join(delta, 'manifest.json'), 'utf8')) as Manifest;
    expect(dm.totals.bytes).toBeLessThan(fm.totals.bytes / 2);
    expect(dm.totals.body_bytes).toBe(fm.totals.body_bytes);
  });

  it('shards are disjoint and cover every session', async () => {
    const all = (await readAll(dir, { stream: 'toolbench' })).map((s) => s.sid);
    const parts = [];
    for (let i = 0; i < 3; i++) parts.push(...(await readAll(dir, { stream: 'toolbench', shard: { index: i, count: 3 } })).map((s) => s.sid));
    expect(parts).toEqual(all);
  });

  it('is high-cardinality: prefixes shared across sessions are only the system prompts', () => {
    expect(manifest.totals.prefix_cache.cross_session_hit_rate).toBeLessThan(0.35);
    // Multi-turn agents reuse their own history, which a cache legitimately serves.
    expect(manifest.totals.prefix_cache.hit_rate).toBeGreaterThan(manifest.totals.prefix_cache.cross_session_hit_rate);
  });

  it('splits --sessions over profiles in proportion to the whitepaper counts', () => {
    const plan = planProfiles({ sessions: 20865 });
    expect(plan.map((p) => [p.profile.name, p.sessions])).toEqual([
      ['toolbench', 5000], ['terminal-bench', 865], ['omniact', 5000], ['swe-rebench', 5000], ['coderforge', 5000],
    ]);
    expect(planProfiles({ sessions: 20000 }).reduce((a, p) => a + p.sessions, 0)).toBe(20000);
    expect(planProfiles({ selection: [{ name: 'D' }], sessions: 10 }).map((p) => p.sessions)).toEqual([5, 5]);
    expect(() => planProfiles({ selection: [{ name: 'nope' }] })).toThrow(/unknown profile/);
    expect(() => planProfiles({ overrides: { toolbench: { turns: { kind: 'weird' } } } })).toThrow(/kind must be one of/);
  });

  it('refuses to overwrite existing streams without --replace', async () => {
    await expect(runSynth({ ...base, out: dir })).rejects.toThrow(/already has stream/);
  });
});

describe('the calibrated corpus params (src/workload/synth/calibrated.ts)', () => {
  it('are a --params file synth accepts, changing profiles B, C and D only', () => {
    const profiles = applyOverrides(DEFAULT_PROFILES, JSON.parse(JSON.stringify(CALIBRATED_PARAMS)));
    if (typeof profiles === 'string') throw new Error(profiles);
    const changed = profiles.filter((p, i) => p !== DEFAULT_PROFILES[i]).map((p) => p.profile);
    expect(changed).toEqual(['B', 'C', 'D', 'D']);
    expect(profiles.find((p) => p.name === 'omniact')?.systemTokens).toBe(800);
  });
});
