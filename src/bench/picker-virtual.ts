// `tollgate bench picker --virtual`: the same comparison with the CPU taken out of it. Four copies
// of the simulator's engine (vLLM's scheduler, paged KV cache and prefix cache, the profile's step
// times) run in one discrete-event loop in simulated time, in front of them the gateway's own
// PoolPicker class with each strategy, fed with the engines' queue and KV-cache use at the scrape
// interval and with exact in-flight counts, and behind them closed-loop users running multi-turn
// sessions. Nothing waits on a timer or a socket, so a run is deterministic for its seed and the
// machine's load cannot move it: what it shows is what the choice of replica alone is worth under
// the simulator's queueing model. What it leaves out is exactly what the real-stack bench adds:
// HTTP, the gateway's and the harness's CPU, scrape latency.
import { PoolPicker } from '../upstream/pool/picker.js';
import type { EndpointHandle } from '../upstream/pools.js';
import { Engine, engineConfig, type StepPlan } from '../sim/engine/engine.js';
import { EventQueue } from '../sim/engine/event-queue.js';
import { Sequence, type SeqSink } from '../sim/engine/sequence.js';
import type { SimProfile } from '../sim/profile.js';
import { Rng } from '../sim/rng.js';
import { pickerConfig } from './picker-cost.js';
import { median } from './picker-report.js';
import type { Strategy } from './picker-stack.js';

/** The multi-turn sessions, shaped after the synthetic corpus the real-stack bench replays. */
export interface VirtualWorkload {
  readonly systemTokens: number;
  /** Distinct system prompts (the corpus has one per profile, three profiles). */
  readonly systemPrompts: number;
  readonly turnsPerSession: number;
  /** Median new tokens per turn (task or tool output), lognormal σ 0.8. */
  readonly turnTokens: number;
  /** Median output tokens per turn, lognormal σ 0.6. */
  readonly outputTokens: number;
  readonly thinkS: number;
  readonly maxContextTokens: number;
}

export const CORPUS_LIKE: VirtualWorkload = { systemTokens: 800, systemPrompts: 3, turnsPerSession: 3, turnTokens: 350, outputTokens: 365, thinkS: 7.5, maxContextTokens: 16_384 };

export interface VirtualRun {
  readonly strategy: Strategy;
  readonly users: number;
  readonly seed: number;
  readonly ttftMean: number;
  readonly ttftP50: number;
  readonly ttftP99: number;
  readonly outputTokensPerS: number;
  readonly prefixHitRate: number;
  /** Mean prompt tokens per request (with prefixHitRate: the prefill the cache saved). */
  readonly promptTokensMean: number;
  readonly preemptions: readonly number[];
  readonly requests: readonly number[];
}

const REPLICAS = 4;
const SCRAPE_MS = 500;
const REQ = { method: 'POST', url: '/v1/chat/completions', headers: {} } as const;

/** Several engines and the outside world's events in one simulated timeline. */
class Cluster {
  now = 0;
  private readonly events = new EventQueue();
  private readonly plans: Array<StepPlan | null>;
  private readonly planEnd: Float64Array;

  constructor(readonly engines: readonly Engine[]) {
    this.plans = engines.map(() => null);
    this.planEnd = new Float64Array(engines.length).fill(Infinity);
  }

  at(t: number, fn: () => void): void {
    this.events.push(Math.max(t, this.now), fn);
  }

  /** Engine i has new work: it starts a step now if idle. */
  kick(i: number): void {
    if (this.plans[i] === null) this.startStep(i);
  }

  run(untilMs: number): void {
    for (;;) {
      let engine = -1;
      let stepAt = Infinity;
      for (let i = 0; i < this.engines.length; i++) {
        const e = this.planEnd[i] as number;
        if (e < stepAt) {
          stepAt = e;
          engine = i;
        }
      }
      const eventAt = this.events.nextAt;
      const t = Math.min(stepAt, eventAt);
      if (t === Infinity || t > untilMs) {
        this.now = untilMs;
        return;
      }
      this.now = t;
      if (engine >= 0 && stepAt <= eventAt) {
        const plan = this.plans[engine] as StepPlan;
        this.plans[engine] = null;
        this.planEnd[engine] = Infinity;
        (this.engines[engine] as Engine).complete(plan, t);
        this.startStep(engine);
      } else this.events.pop()();
    }
  }

  private startStep(i: number): void {
    const plan = (this.engines[i] as Engine).schedule(this.now);
    this.plans[i] = plan;
    this.planEnd[i] = plan === null ? Infinity : this.now + plan.durationMs;
  }
}

/**
 * The request body the picker sees: its prompt's token ids, four bytes each, after a `messages`
 * key, so a 256-byte block is 64 tokens, about what a block of chat JSON holds.
 */
function bodyOf(prompt: readonly number[]): Buffer {
  const head = Buffer.from('{"messages":');
  const b = Buffer.alloc(head.length + prompt.length * 4);
  head.copy(b);
  for (let i = 0; i < prompt.length; i++) b.writeUInt32LE(prompt[i] as number, head.length + i * 4);
  return b;
}

/**
 * One closed-loop run of `users` over four engines with `strategy`; statistics over the measured
 * window. `workers` > 1 models a gateway of several processes: each request lands on one of them
 * at random (connections are spread over workers, not sessions) and each picks with only what it
 * saw itself (its own in-flight counts and prefix index; the scrape is the same for all).
 */
export function runVirtual(profile: SimProfile, w: VirtualWorkload, strategy: Strategy, users: number, seed: number, warmupS: number, durationS: number, workers = 1): VirtualRun {
  const engines = Array.from({ length: REPLICAS }, () => new Engine(engineConfig(profile)));
  const cluster = new Cluster(engines);
  const handles = new Map<EndpointHandle, number>();
  const pickers = Array.from({ length: workers }, () => {
    let next = 0;
    return new PoolPicker(
      { ...pickerConfig(strategy, 32), scrapeIntervalMs: SCRAPE_MS, staleAfterMs: SCRAPE_MS * 3 },
      (ep) => {
        const h: EndpointHandle = { origin: `http://${ep.host}:${ep.port}`, pool: undefined as unknown as EndpointHandle['pool'], downUntil: 0, consecutiveFailures: 0, inflight: 0 };
        handles.set(h, next++);
        return h;
      },
      () => cluster.now,
    );
  });
  const engineOf = (h: EndpointHandle): number => handles.get(h) as number;
  // The gateway's background scrape, as the engines' /metrics would report it.
  const scrape = (): void => {
    for (const picker of pickers) {
      for (const r of picker.replicas) {
        const e = engines[engineOf(r.handle)] as Engine;
        r.waiting = e.numWaiting;
        r.kvCacheUsage = e.kv.usage();
        r.scrapedAt = cluster.now;
      }
    }
    cluster.at(cluster.now + SCRAPE_MS, scrape);
  };
  cluster.at(0, scrape);
  const workerRng = new Rng(seed, 0x3017);

  const warm = warmupS * 1000;
  const end = warm + durationS * 1000;
  const rng = new Rng(seed, 0x9e11);
  let nextId = 1;
  const fresh = (n: number): number[] => Array.from({ length: n }, () => 1000 + ((nextId++ * 2654435761) % 190_000));
  const systems = Array.from({ length: w.systemPrompts }, (_, v) => Array.from({ length: w.systemTokens }, (_, j) => 1000 + (((Math.imul(v + 1, 0x9e3779b1) ^ Math.imul(j + 1, 0x85ebca6b)) >>> 0) % 190_000)));
  const ttft: number[] = [];
  let outTokens = 0;
  let hit = 0;
  let queried = 0;
  const preemptedBefore = new Array<number>(REPLICAS).fill(0);
  const requests = new Array<number>(REPLICAS).fill(0);
  const frontend = profile.latency.frontendMs;

  interface User {
    context: number[];
    turnsLeft: number;
  }
  const send = (u: User): void => {
    if (cluster.now >= end) return;
    if (u.turnsLeft <= 0) {
      u.context = [...(systems[rng.int(systems.length)] as number[])];
      u.turnsLeft = 1 + Math.round(rng.exponential(Math.max(0, w.turnsPerSession - 1)));
    }
    u.context.push(...fresh(Math.max(1, Math.round(rng.lognormal(w.turnTokens, 0.8)))));
    if (u.context.length > w.maxContextTokens) u.context = u.context.slice(u.context.length - w.maxContextTokens);
    const prompt = [...u.context];
    const arrival = cluster.now;
    const measured = arrival >= warm;
    const picker = pickers[workers === 1 ? 0 : workerRng.int(workers)] as PoolPicker;
    const handle = picker.pick(REQ, bodyOf(prompt), new Set(), arrival) as EndpointHandle;
    const i = engineOf(handle);
    handle.inflight++;
    if (measured) requests[i] = (requests[i] ?? 0) + 1;
    const sink: SeqSink = {
      onToken: (seq, t) => {
        if (t >= warm && t < end) outTokens++;
        if (seq.outputIds.length === 1 && measured) {
          ttft.push((t - arrival) / 1000);
          hit += Math.max(0, seq.cachedPromptTokens);
          queried += seq.numPrompt;
        }
      },
      onFinish: (seq, _r, t) => {
        handle.inflight--;
        for (const id of seq.outputIds) u.context.push(id);
        u.turnsLeft--;
        cluster.at(t + rng.exponential(w.thinkS * 1000), () => send(u));
      },
    };
    let k = 0;
    const seq = new Sequence({
      id: `r${nextId}`,
      promptIds: prompt,
      outputTokens: Math.max(1, Math.min(8192, Math.round(rng.lognormal(w.outputTokens, 0.6)))),
      stopIsLength: false,
      nextTokenId: () => 1000 + ((nextId++ * 2246822519 + k++) % 190_000),
      arrivalMs: arrival,
      sink,
    });
    cluster.at(arrival + frontend, () => {
      if ((engines[i] as Engine).submit(seq, cluster.now)) cluster.kick(i);
    });
  };
  for (let u = 0; u < users; u++) {
    const user: User = { context: [], turnsLeft: 0 };
    cluster.at(rng.next() * w.thinkS * 1000, () => send(user));
  }
  cluster.at(warm, () => engines.forEach((e, i) => (preemptedBefore[i] = e.stats.preemptions)));
  // Past the window nobody sends; the requests sent inside it finish (their TTFT counts).
  cluster.run(end + 600_000);
  const sorted = [...ttft].sort((a, b) => a - b);
  const q = (p: number): number => (sorted.length === 0 ? 0 : (sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] as number));
  return {
    strategy,
    users,
    seed,
    ttftMean: sorted.length === 0 ? 0 : sorted.reduce((a, b) => a + b, 0) / sorted.length,
    ttftP50: q(0.5),
    ttftP99: q(0.99),
    outputTokensPerS: outTokens / durationS,
    prefixHitRate: queried === 0 ? 0 : hit / queried,
    promptTokensMean: sorted.length === 0 ? 0 : queried / sorted.length,
    preemptions: engines.map((e, i) => e.stats.preemptions - (preemptedBefore[i] ?? 0)),
    requests,
  };
}

/**
 * The pool's saturation point under round robin, by the rule the real bench's gated ramp applies
 * (the whitepaper's T2): the first level whose TTFT exceeds 3× that of the first, lightest level.
 */
export function virtualSaturation(profile: SimProfile, w: VirtualWorkload, seed: number, step: number, warmupS: number, durationS: number): { users: number; steps: Array<{ users: number; ttftMean: number }> } {
  const steps: Array<{ users: number; ttftMean: number }> = [];
  let baseline = 0;
  for (let users = step; users <= step * 60; users += step) {
    const r = runVirtual(profile, w, 'round-robin', users, seed, warmupS, durationS);
    steps.push({ users, ttftMean: r.ttftMean });
    if (baseline === 0) baseline = r.ttftMean;
    else if (r.ttftMean > 3 * baseline) return { users, steps };
  }
  return { users: steps[steps.length - 1]?.users ?? step, steps };
}

const ms = (v: number): string => (v < 1 ? `${(v * 1000).toFixed(0)} ms` : `${v.toFixed(2)} s`);

/** The virtual comparison: per seed its own saturation ramp, then every level and strategy; a table and the verdict at 80%. */
export function virtualComparison(
  profile: SimProfile,
  w: VirtualWorkload,
  o: { readonly seeds: number; readonly levels: readonly number[]; readonly strategies: readonly Strategy[]; readonly warmupS: number; readonly durationS: number; readonly rampStep: number; readonly workers: number; readonly saturation: number | undefined },
  log: (line: string) => void,
): { ok: boolean; report: string; runs: Array<VirtualRun & { levelPct: number; saturation: number }> } {
  const runs: Array<VirtualRun & { levelPct: number; saturation: number }> = [];
  const lines = ['| seed | saturation | load | strategy | TTFT p50 | TTFT p99 | TTFT mean | output tok/s | prefix-cache hits | preemptions | requests per replica |', '|---|---|---|---|---|---|---|---|---|---|---|'];
  for (let seed = 1; seed <= o.seeds; seed++) {
    // The ramp's steps need less time than the comparison: only their mean TTFT is used.
    const sat = o.saturation !== undefined ? { users: o.saturation, steps: [] } : virtualSaturation(profile, w, seed, o.rampStep, o.warmupS, Math.min(o.durationS, 120));
    log(`seed ${seed}: saturation ${sat.users} users${sat.steps.length === 0 ? ' (given)' : ` (ramp mean TTFT: ${sat.steps.map((x) => `${x.users}→${ms(x.ttftMean)}`).join(', ')})`}`);
    for (const pct of o.levels) {
      const users = Math.max(1, Math.round((sat.users * pct) / 100));
      for (const strategy of o.strategies) {
        const r = { ...runVirtual(profile, w, strategy, users, seed, o.warmupS, o.durationS, o.workers), levelPct: pct, saturation: sat.users };
        runs.push(r);
        const row = `| ${seed} | ${sat.users} | ${pct}% (${users}) | ${strategy} | ${ms(r.ttftP50)} | ${ms(r.ttftP99)} | ${ms(r.ttftMean)} | ${r.outputTokensPerS.toFixed(0)} | ${(r.prefixHitRate * 100).toFixed(1)}% | ${r.preemptions.reduce((a, b) => a + b, 0)} | ${r.requests.join(' / ')} |`;
        lines.push(row);
        log(row);
      }
    }
  }
  const ratios: number[] = [];
  const hitGain: number[] = [];
  const tput: number[] = [];
  for (let seed = 1; seed <= o.seeds; seed++) {
    const rr = runs.find((r) => r.seed === seed && r.levelPct === 80 && r.strategy === 'round-robin');
    const pk = runs.find((r) => r.seed === seed && r.levelPct === 80 && r.strategy === 'picker');
    if (rr === undefined || pk === undefined || pk.ttftP99 <= 0 || rr.outputTokensPerS <= 0) continue;
    ratios.push(rr.ttftP99 / pk.ttftP99);
    hitGain.push(pk.prefixHitRate - rr.prefixHitRate);
    tput.push(pk.outputTokensPerS / rr.outputTokensPerS);
  }
  const mr = median(ratios);
  const mh = median(hitGain);
  const mt = median(tput);
  const ok = mr !== null && mr >= 2 && mh !== null && mh > 0 && mt !== null && mt >= 0.97;
  const verdict =
    mr === null
      ? '(no 80% level with both round robin and the picker: goal not evaluated)'
      : `At 80% of saturation, ${ratios.length} seed(s): TTFT p99 round robin / picker median ${mr.toFixed(2)}× (per seed ${ratios.map((x) => x.toFixed(2)).join(', ')}; goal >= 2×), prefix-cache hits +${((mh ?? 0) * 100).toFixed(1)} points, output tokens/s ×${(mt ?? 0).toFixed(3)}: ${ok ? 'goal met' : 'goal MISSED'}`;
  return { ok, report: `${lines.join('\n')}\n\n${verdict}`, runs };
}
