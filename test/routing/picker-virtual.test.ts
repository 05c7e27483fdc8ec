// The picker bench's simulated-time comparison: the gateway's picker class over four simulator
// engines, with closed-loop users replaying a corpus written by `tollgate synth`. The replayed
// prompts are the token ids a simulated replica computes for the same request bodies; runs are
// deterministic for a seed, round robin spreads requests evenly, and the picker's prefix-cache
// affinity shows in the engines' own hit counts. The per-trial verdict is judged on the median of
// each trial's own ratios.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadVirtualCorpus, type VirtualCorpus } from '../../src/bench/picker-corpus.js';
import { judgeTrials, median, type RunResult } from '../../src/bench/picker-report.js';
import { runVirtual, virtualComparison } from '../../src/bench/picker-virtual.js';
import type { ChatMessage } from '../../src/protocol/openai.js';
import { profileFromObject } from '../../src/sim/index.js';
import { chatPromptIds, promptCounter } from '../../src/sim/prompt.js';
import { loadTokenizer } from '../../src/tokenizer/index.js';
import { runSynth } from '../../src/workload/synth/run.js';

const profile = profileFromObject({ extends: 'fast', scheduler: { maxNumSeqs: 8 }, cost: { fixedMs: 2, prefillTokenMs: 0.001, decodeSeqMs: 0.02, contextTokenMs: 0 } });
const short = { kind: 'const', value: 30 };
const run = { warmupS: 5, durationS: 30, sessionGapS: 0.5, workers: 1 };

let corpus: VirtualCorpus;
const tmp = mkdtempSync(join(tmpdir(), 'tollgate-picker-virtual-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
beforeAll(async () => {
  const out = join(tmp, 'corpus');
  // Short outputs and think times keep the runs quick; the prompts are the corpus's own.
  const fast = { visible: short, reasoning: { kind: 'const', value: 10 }, think: { kind: 'const', value: 300 } };
  await runSynth({
    out,
    seed: 3,
    selection: [{ name: 'terminal-bench', count: 6 }, { name: 'omniact', count: 10 }, { name: 'swe-rebench', count: 12 }],
    overrides: { 'terminal-bench': fast, omniact: fast, 'swe-rebench': { ...fast, turns: { kind: 'const', value: 4 } } },
    model: 'gpt-oss-120b',
    layout: 'delta',
    stream: true,
    thinkScale: 1,
    partBytes: 1 << 20,
    maxTokensField: 'max_tokens',
    exactLength: false,
    replace: false,
    threads: 1,
  });
  corpus = await loadVirtualCorpus(out);
}, 60_000);

describe('bench picker --virtual', () => {
  it('replays each turn with the body the harness sends and the prompt ids a replica computes for it', async () => {
    const pc = promptCounter(await loadTokenizer('o200k_harmony'));
    expect(corpus.profiles.map((p) => p.name).sort()).toEqual(['B', 'C', 'D']);
    let turns = 0;
    for (const p of corpus.profiles) {
      for (const st of p.streams) {
        for (const s of st.sessions.slice(0, 3)) {
          for (let k = 0; k < s.turns.length; k++) {
            const body = JSON.parse(corpus.body(s, k).toString('utf8')) as { messages: ChatMessage[]; max_tokens: number };
            expect(body.max_tokens).toBe(s.turns[k]!.outputTokens);
            expect(Array.from(corpus.promptIds(s, k))).toEqual(chatPromptIds(pc, body.messages));
            turns++;
          }
        }
      }
    }
    expect(turns).toBeGreaterThan(15);
  });

  it('is deterministic for a seed, and round robin spreads requests evenly', () => {
    const a = runVirtual(profile, corpus, 'round-robin', 24, 7, run);
    const b = runVirtual(profile, corpus, 'round-robin', 24, 7, run);
    expect(b).toEqual(a);
    expect(a.requests.reduce((x, y) => x + y, 0)).toBeGreaterThan(100);
    expect(Math.max(...a.requests) - Math.min(...a.requests)).toBeLessThanOrEqual(1);
  });

  it('the picker finds more of each prompt in the replica caches than round robin', () => {
    const rr = runVirtual(profile, corpus, 'round-robin', 24, 3, run);
    const pk = runVirtual(profile, corpus, 'picker', 24, 3, run);
    expect(pk.prefixHitRate).toBeGreaterThan(rr.prefixHitRate);
    // Split over two workers, each picker knows only half the prefixes.
    const split = runVirtual(profile, corpus, 'picker', 24, 3, { ...run, workers: 2 });
    expect(split.prefixHitRate).toBeLessThan(pk.prefixHitRate);
    // Sharing what each one learned, in batches every 25 ms, brings it back.
    const shared = runVirtual(profile, corpus, 'picker', 24, 3, { ...run, workers: 2, shareMs: 25 });
    expect(shared.prefixHitRate).toBeGreaterThan(split.prefixHitRate);
  });

  it('no strategy beats the ideal bound (each request alone on an idle replica that holds every prompt computed before)', () => {
    for (const strategy of ['round-robin', 'least-request', 'picker'] as const) {
      const r = runVirtual(profile, corpus, strategy, 24, 5, run);
      expect(r.idealTtftP99).toBeGreaterThan(0);
      expect(r.idealTtftP99).toBeLessThanOrEqual(r.ttftP99);
    }
    // With the prefill scorer off (weight 0) as well.
    const off = runVirtual(profile, corpus, 'picker', 24, 5, { ...run, weights: { queue: 2, 'kv-cache': 2, 'prefix-cache': 3, prefill: 0 } });
    expect(off.idealTtftP99).toBeLessThanOrEqual(off.ttftP99);
  });
});

describe('bench picker --virtual: a corpus that runs out', () => {
  const comparison = (o: typeof run, users: number): { report: string; log: string[]; repeated: number[] } => {
    const log: string[] = [];
    const r = virtualComparison(profile, corpus, { seeds: 1, levels: [80], strategies: ['round-robin', 'picker'], run: o, rampStep: 4, saturation: users }, (l) => log.push(l));
    return { report: r.report, log, repeated: r.runs.map((x) => x.repeatedSessions) };
  };

  it('says so when a run starts sessions a second time: their prompts are cached whole, so the hits are inflated', () => {
    // 28 sessions for ~24 users over 35 s: every session runs several times.
    const c = comparison(run, 30);
    expect(Math.min(...c.repeated)).toBeGreaterThan(0);
    expect(c.report).toContain('WARNING: 2 of 2 runs used up the corpus');
    expect(c.log.filter((l) => l.includes('sessions started a second time'))).toHaveLength(2);
  });

  it('and says nothing when every session ran once', () => {
    const c = comparison({ ...run, warmupS: 0, durationS: 1 }, 4);
    expect(c.repeated).toEqual([0, 0]);
    expect(c.report).not.toContain('WARNING');
    expect(c.log.some((l) => l.includes('second time'))).toBe(false);
  });
});

describe('judgeTrials', () => {
  const run = (trial: number, strategy: RunResult['strategy'], p99: number, tput: number, hits: number): RunResult => ({
    trial,
    saturation: 100,
    strategy,
    levelPct: 80,
    users: 80,
    ttftP50: p99 / 4,
    ttftP99: p99,
    outputTokensPerS: tput,
    errorRate: 0,
    prefixHitRate: hits,
    replicas: [],
    noise: { loadAvg1m: 0, harnessLagP99Ms: 0, simLateStepP99Ms: 0, simOverruns: 0 },
  });

  it('takes the median of per-trial ratios, so one outlier trial neither makes nor breaks the goal', () => {
    const results = [
      run(1, 'round-robin', 1.0, 100, 0.4),
      run(1, 'picker', 0.4, 100, 0.5),
      run(2, 'round-robin', 9.0, 100, 0.4),
      run(2, 'picker', 0.5, 100, 0.5),
      run(3, 'round-robin', 0.5, 100, 0.4),
      run(3, 'picker', 0.5, 100, 0.5),
    ];
    const v = judgeTrials(results);
    // Ratios 2.5, 18, 1: median 2.5.
    expect(v.ok).toBe(true);
    expect(v.lines.join('\n')).toContain('median 2.50×');
    expect(judgeTrials(results.slice(0, 2).concat(results.slice(4))).ok).toBe(false); // 2.5 and 1: median 1.75
    expect(median([3, 1, 2])).toBe(2);
    expect(median([])).toBeNull();
  });
});
