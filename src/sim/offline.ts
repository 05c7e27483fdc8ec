// The engine under a synthetic closed-loop workload in virtual time: N users, each running
// multi-turn sessions (the context grows turn by turn: previous prompt + the reply + a new user
// message), thinking between turns. Deterministic given the seed and fast (hours of simulated load
// per second of CPU). This is how the profile is calibrated, how `tollgate sim ramp` answers "where
// is the knee of this hardware?", and how the tests check queueing, memory and prefix caching.
import { Engine, engineConfig } from './engine/engine.js';
import { VirtualLoop } from './engine/loop.js';
import { Sequence, type SeqSink } from './engine/sequence.js';
import type { SimProfile } from './profile.js';
import { Rng } from './rng.js';

export interface Workload {
  /** Concurrent users (closed loop: a user sends its next turn only after the previous reply). */
  readonly users: number;
  /** Measured window, simulated seconds (after warm-up). */
  readonly durationS: number;
  readonly warmupS: number;
  /** Mean think time between turns, seconds (exponential). */
  readonly thinkS: number;
  /** Mean turns per session (1 + a rounded exponential); a new session starts from an empty context. */
  readonly turnsPerSession: number;
  /** System prompt tokens at the head of every session. */
  readonly systemTokens: number;
  /** Distinct system prompts across all users: 1 = everyone shares one (a cacheable prefix). */
  readonly systemPromptVariants: number;
  /** Mean new user tokens per turn (lognormal, sigma 0.8). */
  readonly userTokens: number;
  /** Mean output tokens per turn (lognormal, sigma 0.6). */
  readonly outputTokens: number;
  /** Contexts are cut back to this many tokens (a client's sliding window). */
  readonly maxContextTokens: number;
  /**
   * Every request repeats one of this many fixed prompts instead of growing sessions (the
   * low-cardinality trap: the same ten sessions looped). 0 = off.
   */
  readonly repeatPrompts: number;
  readonly seed: number;
}

export const DEFAULT_WORKLOAD: Workload = {
  users: 190,
  durationS: 600,
  warmupS: 120,
  thinkS: 7.5,
  turnsPerSession: 3,
  systemTokens: 800,
  systemPromptVariants: 50,
  userTokens: 500,
  outputTokens: 405,
  maxContextTokens: 8192,
  repeatPrompts: 0,
  seed: 1,
};

export interface RunResult {
  readonly users: number;
  readonly requests: number;
  readonly rps: number;
  readonly ttftMean: number;
  readonly ttftP50: number;
  readonly ttftP99: number;
  readonly tpotMean: number;
  readonly itlMean: number;
  readonly queueMean: number;
  readonly prefillMean: number;
  readonly e2eMean: number;
  readonly kvUsageMean: number;
  readonly kvUsageMax: number;
  readonly runningMean: number;
  readonly waitingMean: number;
  readonly preemptions: number;
  /** Preempted requests over finished requests in the window. */
  readonly preemptionRate: number;
  readonly prefixHitRate: number;
  readonly promptTokensMean: number;
  readonly outputTokensMean: number;
  readonly stepMsMean: number;
}

function quantile(xs: number[], p: number): number {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))] as number;
}

const mean = (xs: number[]): number => (xs.length === 0 ? 0 : xs.reduce((a, b) => a + b, 0) / xs.length);

/** Run one closed-loop workload against a fresh engine with the profile; report the measured window. */
export function runWorkload(profile: SimProfile, w: Workload): RunResult {
  const engine = new Engine(engineConfig(profile));
  const warm = w.warmupS * 1000;
  const end = warm + w.durationS * 1000;
  let tw = { t: 0, kv: 0, running: 0, waiting: 0, max: 0, steps: 0, stepMs: 0 };
  let lastT = warm;
  const loop = new VirtualLoop(engine, {
    afterStep: (plan, t) => {
      if (t <= warm) {
        lastT = warm;
        return;
      }
      const dt = t - lastT;
      lastT = t;
      const u = engine.kv.usage();
      tw = {
        t: tw.t + dt,
        kv: tw.kv + u * dt,
        running: tw.running + engine.running.length * dt,
        waiting: tw.waiting + engine.numWaiting * dt,
        max: Math.max(tw.max, u),
        steps: tw.steps + 1,
        stepMs: tw.stepMs + plan.durationMs,
      };
    },
  });
  const ttft: number[] = [];
  const tpot: number[] = [];
  const queue: number[] = [];
  const prefill: number[] = [];
  const e2e: number[] = [];
  const promptLens: number[] = [];
  const outLens: number[] = [];
  let preempted = 0;
  let hitTokens = 0;
  let queryTokens = 0;
  const frontend = profile.latency.frontendMs;
  const rng = new Rng(w.seed, 0x5e55);
  let nextTokenId = 1;
  const freshTokens = (n: number): number[] => {
    const out = new Array<number>(n);
    for (let i = 0; i < n; i++) out[i] = 1000 + ((nextTokenId++ * 2654435761) % 190_000);
    return out;
  };
  // System prompt v is a fixed token sequence derived from v (built on demand: there may be many).
  const variants = Math.max(1, w.systemPromptVariants);
  const system = (v: number): number[] => {
    const out = new Array<number>(w.systemTokens);
    for (let j = 0; j < w.systemTokens; j++) out[j] = 1000 + ((Math.imul(v + 1, 0x9e3779b1) ^ Math.imul(j + 1, 0x85ebca6b)) >>> 0) % 190_000;
    return out;
  };
  const repeats: number[][] = [];
  for (let i = 0; i < w.repeatPrompts; i++) repeats.push([...system(i % variants), ...freshTokens(Math.round(w.userTokens * 3))]);

  interface User {
    context: number[];
    turnsLeft: number;
  }
  const newSession = (u: User): void => {
    u.context = system(rng.int(variants));
    u.turnsLeft = 1 + Math.round(rng.exponential(Math.max(0, w.turnsPerSession - 1)));
  };

  const send = (u: User): void => {
    let prompt: number[];
    if (w.repeatPrompts > 0) prompt = repeats[rng.int(repeats.length)] as number[];
    else {
      if (u.turnsLeft <= 0) newSession(u);
      const add = Math.max(1, Math.round(rng.lognormal(w.userTokens, 0.8)));
      u.context.push(...freshTokens(add));
      if (u.context.length > w.maxContextTokens) u.context = u.context.slice(u.context.length - w.maxContextTokens);
      prompt = [...u.context];
    }
    const outN = Math.max(1, Math.min(8192, Math.round(rng.lognormal(w.outputTokens, 0.6))));
    const arrival = loop.now;
    const sink: SeqSink = {
      onToken: () => undefined,
      onFinish: (seq, _r, t) => {
        if (arrival >= warm && t <= end) {
          ttft.push((seq.firstTokenMs - arrival) / 1000);
          if (seq.outputIds.length > 1) tpot.push((seq.lastTokenMs - seq.firstTokenMs) / 1000 / (seq.outputIds.length - 1));
          queue.push(Math.max(0, seq.scheduledMs - seq.firstQueuedMs) / 1000);
          prefill.push((seq.firstTokenMs - seq.scheduledMs) / 1000);
          e2e.push((t - arrival) / 1000);
          promptLens.push(seq.numPrompt);
          outLens.push(seq.outputIds.length);
          if (seq.numPreemptions > 0) preempted++;
          hitTokens += Math.max(0, seq.cachedPromptTokens);
          queryTokens += seq.numPrompt;
        }
        if (w.repeatPrompts === 0) {
          for (const id of seq.outputIds) u.context.push(id);
          u.turnsLeft--;
        }
        loop.at(t + rng.exponential(w.thinkS * 1000), () => send(u));
      },
    };
    let counter = 0;
    const seq = new Sequence({
      id: `u${nextTokenId}`,
      promptIds: prompt,
      outputTokens: outN,
      stopIsLength: false,
      nextTokenId: () => 1000 + ((nextTokenId++ * 2246822519 + counter++) % 190_000),
      arrivalMs: arrival,
      sink,
    });
    loop.at(arrival + frontend, () => {
      if (engine.submit(seq, loop.now)) loop.kick();
    });
  };

  for (let i = 0; i < w.users; i++) {
    const u: User = { context: [], turnsLeft: 0 };
    // Users join spread over one think time, so the start is not one synchronized wave.
    loop.at(rng.next() * w.thinkS * 1000, () => send(u));
  }
  const preemptionsBefore = { n: 0, itlSum: 0, itlCount: 0 };
  loop.at(warm, () => {
    preemptionsBefore.n = engine.stats.preemptions;
    preemptionsBefore.itlSum = engine.stats.itl.sum;
    preemptionsBefore.itlCount = engine.stats.itl.count;
  });
  loop.run(end);
  const span = Math.max(1, tw.t);
  return {
    users: w.users,
    requests: ttft.length,
    rps: ttft.length / w.durationS,
    ttftMean: mean(ttft),
    ttftP50: quantile(ttft, 0.5),
    ttftP99: quantile(ttft, 0.99),
    tpotMean: mean(tpot),
    itlMean: (engine.stats.itl.sum - preemptionsBefore.itlSum) / Math.max(1, engine.stats.itl.count - preemptionsBefore.itlCount),
    queueMean: mean(queue),
    prefillMean: mean(prefill),
    e2eMean: mean(e2e),
    kvUsageMean: tw.kv / span,
    kvUsageMax: tw.max,
    runningMean: tw.running / span,
    waitingMean: tw.waiting / span,
    preemptions: engine.stats.preemptions - preemptionsBefore.n,
    preemptionRate: ttft.length === 0 ? 0 : preempted / ttft.length,
    prefixHitRate: queryTokens === 0 ? 0 : hitTokens / queryTokens,
    promptTokensMean: mean(promptLens),
    outputTokensMean: mean(outLens),
    stepMsMean: tw.steps === 0 ? 0 : tw.stepMs / tw.steps,
  };
}

export interface RampResult {
  readonly runs: RunResult[];
  readonly baselineTtft: number;
  /** First user count whose mean TTFT exceeds 3x the baseline (the whitepaper's T2 rule), if any. */
  readonly kneeUsers: number | undefined;
  /** First user count whose preemption rate exceeds 5% (T3), if any. */
  readonly memoryStopUsers: number | undefined;
}

/** One steady-state run per user count; the first is the baseline. */
export function ramp(profile: SimProfile, base: Workload, users: readonly number[]): RampResult {
  const runs = users.map((u) => runWorkload(profile, { ...base, users: u }));
  const baseline = runs[0]?.ttftMean ?? 0;
  const knee = runs.find((r) => baseline > 0 && r.ttftMean > 3 * baseline);
  const t3 = runs.find((r) => r.preemptionRate > 0.05);
  return { runs, baselineTtft: baseline, kneeUsers: knee?.users, memoryStopUsers: t3?.users };
}

export function formatRamp(r: RampResult): string {
  const head = 'users   rps    ttft_mean  ttft_p99   tpot    queue    prefill  e2e      kv_mean  kv_max   running  waiting  preempt  hit%';
  const rows = r.runs.map((x) =>
    [
      String(x.users).padStart(5),
      x.rps.toFixed(2).padStart(6),
      `${x.ttftMean.toFixed(3)}s`.padStart(9),
      `${x.ttftP99.toFixed(3)}s`.padStart(9),
      `${x.tpotMean.toFixed(4)}s`.padStart(8),
      `${x.queueMean.toFixed(3)}s`.padStart(7),
      `${x.prefillMean.toFixed(3)}s`.padStart(7),
      `${x.e2eMean.toFixed(2)}s`.padStart(7),
      `${(x.kvUsageMean * 100).toFixed(1)}%`.padStart(7),
      `${(x.kvUsageMax * 100).toFixed(1)}%`.padStart(7),
      x.runningMean.toFixed(1).padStart(7),
      x.waitingMean.toFixed(1).padStart(7),
      String(x.preemptions).padStart(7),
      (x.prefixHitRate * 100).toFixed(1).padStart(5),
    ].join('  '),
  );
  const knee = r.kneeUsers === undefined ? 'not reached' : `${r.kneeUsers} users`;
  const t3 = r.memoryStopUsers === undefined ? 'not reached' : `${r.memoryStopUsers} users`;
  return `${head}\n${rows.join('\n')}\n\nbaseline TTFT ${r.baselineTtft.toFixed(3)} s; T2 knee (mean TTFT > 3x baseline): ${knee}; T3 (preemption rate > 5%): ${t3}\n`;
}
