// `tollgate bench picker --virtual`: the same comparison with the CPU taken out of it. Four copies
// of the simulator's engine (vLLM's scheduler, paged KV cache and prefix cache, the profile's step
// times) run in one discrete-event loop in simulated time, in front of them the gateway's own
// PoolPicker class with each strategy, fed with the engines' queue and KV-cache use at the scrape
// interval and with exact in-flight counts, and behind them closed-loop users replaying the
// synthetic corpus's sessions (bench/picker-corpus.ts: the bodies the load harness sends, the
// prompt ids a replica computes for them). Nothing waits on a timer or a socket, so a run is deterministic for its seed and the
// machine's load cannot move it: what it shows is what the choice of replica alone is worth under
// the simulator's queueing model. What it leaves out is exactly what the real-stack bench adds:
// HTTP, the gateway's and the harness's CPU, scrape latency.
import { PoolPicker } from '../upstream/pool/picker.js';
import { applyLoad } from '../upstream/pool/scrape.js';
import { PickerShare } from '../upstream/pool/share.js';
import { PickerRelay } from '../cluster/picker-relay.js';
import type { EndpointHandle } from '../upstream/pools.js';
import { Engine, engineConfig } from '../sim/engine/engine.js';
import { Cluster } from './virtual-cluster.js';
import { Sequence, type SeqSink } from '../sim/engine/sequence.js';
import type { SimProfile } from '../sim/profile.js';
import { Rng } from '../sim/rng.js';
import { PICKER_DEFAULTS } from '../config/compile/inference-pool.js';
import { apportion } from '../load/levels.js';
import type { CorpusProfile, CorpusSession, CorpusStream, CorpusTurn, VirtualCorpus } from './picker-corpus.js';
import { IdealBound } from './picker-bound.js';
import { pickerConfig } from './picker-cost.js';
import { median } from './picker-report.js';
import type { Strategy } from './picker-stack.js';
import type { ScorerName } from '../config/types.js';

export interface VirtualRun {
  readonly strategy: Strategy;
  readonly users: number;
  readonly seed: number;
  readonly ttftMean: number;
  readonly ttftP50: number;
  readonly ttftP99: number;
  /**
   * TTFT p99 an ideal picker could not beat: each request's own prefill, alone on an idle replica
   * that holds every prompt block any earlier request computed (see idealTtftMs).
   */
  readonly idealTtftP99: number;
  readonly outputTokensPerS: number;
  readonly prefixHitRate: number;
  /** Mean prompt tokens per request (with prefixHitRate: the prefill the cache saved). */
  readonly promptTokensMean: number;
  /** Mean KV-cache use over the replicas and the measured window, as their /metrics would show it. */
  readonly kvUsageMean: number;
  readonly preemptions: readonly number[];
  readonly requests: readonly number[];
  /** Sessions started beyond the corpus's size (the corpus wrapped around and repeated them). */
  readonly repeatedSessions: number;
  /** Measured turns after a session's first that went to another replica than its previous turn, as a share of those turns. */
  readonly turnsMoved: number;
  /**
   * Picker only: when (simulated s from the start, warm-up included) the first worker's picker
   * learned each replica's batch size from its scrapes; null: not by the run's end. Until then a
   * full batch shows only once requests queue, and that is where the picker's tail comes from.
   */
  readonly batchLearnedS?: ReadonlyArray<number | null>;
  /** With shared picker state: the workers' batches to the primary per measured request, and their JSON bytes. */
  readonly shared?: { readonly messagesPerRequest: number; readonly bytesPerRequest: number };
}

/** How users run the corpus's sessions, as the load harness's users mode does. */
export interface VirtualOptions {
  readonly warmupS: number;
  readonly durationS: number;
  /** Mean pause between one user's sessions (exponential), seconds. */
  readonly sessionGapS: number;
  /** Gateway worker processes, each picking with only what it saw. */
  readonly workers: number;
  /**
   * With several workers: their pickers share the prefix blocks and sessions they learned in
   * batches, at most one every this many ms from each worker (at once after a quiet interval), and
   * the primary's relay batches them at the same interval; 0: each keeps what it saw.
   */
  readonly shareMs?: number;
  /** With `shareMs`: the workers also share their pending prefill per replica when it moved by this many tokens; 0: not. */
  readonly sharePrefill?: number;
  /** The picker's scorer weights; undefined: the defaults a pool gets. */
  readonly weights?: Readonly<Record<ScorerName, number>> | undefined;
  /** A scrape reaches the pickers this many ms after the engines' state it reports (0: at once). */
  readonly scrapeDelayMs?: number;
}

const REPLICAS = 4;
const SCRAPE_MS = 500;
const REQ = { method: 'POST', url: '/v1/chat/completions', headers: {} } as const;

/** A profile's supply of sessions: its streams mixed by size, each in file order from a seeded start. */
class SessionSupply {
  private readonly next: number[];
  private taken = 0;
  private readonly size: number;

  constructor(
    private readonly profile: CorpusProfile,
    private readonly rng: Rng,
  ) {
    this.next = profile.streams.map((s) => rng.int(s.sessions.length));
    this.size = profile.streams.reduce((a, s) => a + s.sessions.length, 0);
  }

  get repeated(): number {
    return Math.max(0, this.taken - this.size);
  }

  take(): CorpusSession {
    const streams = this.profile.streams;
    let i = 0;
    if (streams.length > 1) {
      let r = this.rng.next() * this.size;
      while (i < streams.length - 1 && (r -= (streams[i] as CorpusStream).sessions.length) >= 0) i++;
    }
    const st = streams[i] as CorpusStream;
    const at = this.next[i] as number;
    this.next[i] = (at + 1) % st.sessions.length;
    this.taken++;
    return st.sessions[at] as CorpusSession;
  }
}

/**
 * One closed-loop run of `users` over four engines with `strategy`; statistics over the measured
 * window. Users are split over the corpus's profiles by their shares; each runs that profile's
 * sessions one after another (a pause of `sessionGapS` on average between them), every turn after
 * the first sent when the previous answer ended plus the turn's recorded think time, each turn's
 * output as long as the corpus says. `workers` > 1 models a gateway of several processes: each
 * request lands on one of them at random (connections are spread over workers, not sessions) and
 * each picks with what it saw itself (its own in-flight counts and prefix index; the scrape is the
 * same for all), plus, with `shareMs`, the prefix blocks and sessions the others told it (and,
 * with `sharePrefill`, their pending prefill per replica), batched by the workers' own share class
 * and relayed by the primary's relay class, both in simulated time at that interval.
 */
export function runVirtual(profile: SimProfile, corpus: VirtualCorpus, strategy: Strategy, users: number, seed: number, o: VirtualOptions): VirtualRun {
  const engines = Array.from({ length: REPLICAS }, () => new Engine(engineConfig(profile)));
  const cluster = new Cluster(engines);
  const handles = new Map<EndpointHandle, number>();
  const shareMs = o.workers > 1 ? (o.shareMs ?? 0) : 0;
  const shares: PickerShare[] = [];
  const sharedIpc = { messages: 0, bytes: 0 };
  // The primary's relay, the gateway's own class in simulated time (IPC itself takes no time here).
  const relay = new PickerRelay({
    workers: () => shares.map((_, i) => i),
    send: (id, batches) => cluster.at(cluster.now, () => shares[id]?.receive(batches)),
    intervalMs: shareMs,
    later: (fn, ms) => cluster.at(cluster.now + ms, fn),
    clock: () => cluster.now,
  });
  for (let w = 0; w < (shareMs > 0 ? o.workers : 0); w++) {
    shares.push(
      new PickerShare(
        {
          send: (batch) => {
            if (cluster.now >= warm && cluster.now < end) {
              sharedIpc.messages++;
              sharedIpc.bytes += Buffer.byteLength(JSON.stringify(batch));
            }
            relay.take(w, batch);
          },
          later: (fn, ms) => cluster.at(cluster.now + ms, fn),
          clock: () => cluster.now,
        },
        shareMs,
        { from: `w${w}`, prefillTokens: o.sharePrefill ?? 0 },
      ),
    );
  }
  const pickers = Array.from({ length: o.workers }, (_, w) => {
    let next = 0;
    return new PoolPicker(
      { ...pickerConfig(strategy, PICKER_DEFAULTS.prefixMaxBlocks), scrapeIntervalMs: SCRAPE_MS, staleAfterMs: SCRAPE_MS * 3, ...(o.weights === undefined ? {} : { weights: o.weights }) },
      (ep) => {
        const h: EndpointHandle = { origin: `http://${ep.host}:${ep.port}`, pool: undefined as unknown as EndpointHandle['pool'], downUntil: 0, consecutiveFailures: 0, inflight: 0 };
        handles.set(h, next++);
        return h;
      },
      () => cluster.now,
      shares[w],
    );
  });
  const engineOf = (h: EndpointHandle): number => handles.get(h) as number;
  const warm = o.warmupS * 1000;
  const end = warm + o.durationS * 1000;
  const batchLearnedAt: Array<number | null> = new Array<number | null>(REPLICAS).fill(null);
  let kvSum = 0;
  let kvSamples = 0;
  // The gateway's background scrape, as the engines' /metrics would report it, arriving
  // `scrapeDelayMs` after the state it reports (an engine answers its /metrics between steps, and
  // the answer crosses HTTP).
  const delay = o.scrapeDelayMs ?? 0;
  const scrape = (): void => {
    const seen = engines.map((e) => ({ waiting: e.numWaiting, running: e.numRunning, generated: e.stats.generationTokens, kvCacheUsage: e.kv.usage() }));
    const apply = (): void => {
      for (const picker of pickers) for (const r of picker.replicas) applyLoad(r, seen[engineOf(r.handle)] as (typeof seen)[number], cluster.now);
      (pickers[0] as PoolPicker).replicas.forEach((r) => {
        const i = engineOf(r.handle);
        if (r.batchSlots > 0 && batchLearnedAt[i] === null) batchLearnedAt[i] = cluster.now;
      });
    };
    if (delay > 0) cluster.at(cluster.now + delay, apply);
    else apply();
    if (cluster.now >= warm && cluster.now < end) {
      for (const e of engines) kvSum += e.kv.usage();
      kvSamples += engines.length;
    }
    cluster.at(cluster.now + SCRAPE_MS, scrape);
  };
  cluster.at(0, scrape);
  const workerRng = new Rng(seed, 0x3017);

  const rng = new Rng(seed, 0x9e11);
  const supplies = corpus.profiles.map((p, i) => new SessionSupply(p, new Rng(seed, 0x5e55 + i)));
  let nextId = 1;
  const ttft: number[] = [];
  const ideal: number[] = [];
  const bound = new IdealBound(profile);
  let outTokens = 0;
  let hit = 0;
  let queried = 0;
  const preemptedBefore = new Array<number>(REPLICAS).fill(0);
  const requests = new Array<number>(REPLICAS).fill(0);
  const frontend = profile.latency.frontendMs;
  /** Each running session's replica for its last turn, to count turns that move. */
  const replicaOf = new Map<CorpusSession, number>();
  let laterTurns = 0;
  let moved = 0;

  const send = (supply: SessionSupply, s: CorpusSession, k: number): void => {
    if (cluster.now >= end) return;
    const arrival = cluster.now;
    const measured = arrival >= warm;
    const picker = pickers[o.workers === 1 ? 0 : workerRng.int(o.workers)] as PoolPicker;
    const handle = picker.pick(REQ, corpus.body(s, k), new Set(), arrival) as EndpointHandle;
    const prefillTokens = picker.lastPrefillTokens;
    const i = engineOf(handle);
    if (measured && k > 0) {
      laterTurns++;
      if (replicaOf.get(s) !== i) moved++;
    }
    replicaOf.set(s, i);
    const promptIds = corpus.promptIds(s, k);
    const idealMs = bound.next(promptIds);
    if (measured) ideal.push(idealMs / 1000);
    handle.inflight++;
    if (measured) requests[i] = (requests[i] ?? 0) + 1;
    const turn = s.turns[k] as CorpusTurn;
    const sink: SeqSink = {
      onToken: (seq, t) => {
        if (t >= warm && t < end) outTokens++;
        if (seq.outputIds.length !== 1) return;
        // The gateway sees the first byte: the request's prefill is no longer pending.
        picker.prefillDone(handle, prefillTokens);
        if (measured) {
          ttft.push((t - arrival) / 1000);
          hit += Math.max(0, seq.cachedPromptTokens);
          queried += seq.numPrompt;
        }
      },
      onFinish: (_seq, _r, t) => {
        handle.inflight--;
        const next = s.turns[k + 1];
        if (next === undefined) {
          replicaOf.delete(s);
          startLater(supply, t);
        } else cluster.at(t + next.thinkMs, () => send(supply, s, k + 1));
      },
    };
    let n = 0;
    const seq = new Sequence({
      id: `r${nextId++}`,
      promptIds,
      outputTokens: turn.outputTokens,
      stopIsLength: true,
      nextTokenId: () => 1000 + ((nextId * 2246822519 + n++) % 190_000),
      arrivalMs: arrival,
      sink,
    });
    cluster.at(arrival + frontend, () => {
      if ((engines[i] as Engine).submit(seq, cluster.now)) cluster.kick(i);
    });
  };
  const startLater = (supply: SessionSupply, from: number): void => {
    cluster.at(from + rng.exponential(o.sessionGapS * 1000), () => {
      if (cluster.now < end) send(supply, supply.take(), 0);
    });
  };
  apportion(users, corpus.profiles.map((p) => p.share)).forEach((n, pi) => {
    for (let u = 0; u < n; u++) startLater(supplies[pi] as SessionSupply, 0);
  });
  cluster.at(warm, () => engines.forEach((e, i) => (preemptedBefore[i] = e.stats.preemptions)));
  // Past the window nobody sends; the requests sent inside it finish (their TTFT counts).
  cluster.run(end + 600_000);
  const sorted = [...ttft].sort((a, b) => a - b);
  const quantile = (xs: readonly number[], p: number): number => (xs.length === 0 ? 0 : (xs[Math.min(xs.length - 1, Math.floor(p * xs.length))] as number));
  const q = (p: number): number => quantile(sorted, p);
  return {
    strategy,
    users,
    seed,
    ttftMean: sorted.length === 0 ? 0 : sorted.reduce((a, b) => a + b, 0) / sorted.length,
    ttftP50: q(0.5),
    ttftP99: q(0.99),
    idealTtftP99: quantile([...ideal].sort((a, b) => a - b), 0.99),
    outputTokensPerS: outTokens / o.durationS,
    prefixHitRate: queried === 0 ? 0 : hit / queried,
    promptTokensMean: sorted.length === 0 ? 0 : queried / sorted.length,
    kvUsageMean: kvSamples === 0 ? 0 : kvSum / kvSamples,
    preemptions: engines.map((e, i) => e.stats.preemptions - (preemptedBefore[i] ?? 0)),
    requests,
    repeatedSessions: supplies.reduce((a, x) => a + x.repeated, 0),
    turnsMoved: laterTurns === 0 ? 0 : moved / laterTurns,
    ...(strategy === 'picker' ? { batchLearnedS: batchLearnedAt.map((t) => (t === null ? null : t / 1000)) } : {}),
    ...(shareMs > 0 ? { shared: { messagesPerRequest: sharedIpc.messages / Math.max(1, sorted.length), bytesPerRequest: sharedIpc.bytes / Math.max(1, sorted.length) } } : {}),
  };
}

/**
 * The pool's saturation point under round robin, by the rule the real bench's gated ramp applies
 * (the whitepaper's T2): the first level whose TTFT exceeds 3× that of the first, lightest level.
 */
export function virtualSaturation(profile: SimProfile, corpus: VirtualCorpus, seed: number, step: number, o: VirtualOptions): { users: number; steps: Array<{ users: number; ttftMean: number }> } {
  const steps: Array<{ users: number; ttftMean: number }> = [];
  let baseline = 0;
  for (let users = step; users <= step * 60; users += step) {
    const r = runVirtual(profile, corpus, 'round-robin', users, seed, { ...o, workers: 1 });
    steps.push({ users, ttftMean: r.ttftMean });
    if (baseline === 0) baseline = r.ttftMean;
    else if (r.ttftMean > 3 * baseline) return { users, steps };
  }
  return { users: steps[steps.length - 1]?.users ?? step, steps };
}

/** A run that ran out of the corpus's sessions, said where its row is. */
export function repeatNote(repeated: number): string {
  return `${repeated} sessions started a second time (the corpus ran out): their prompts are cached whole, so hits and affinity's gain are inflated`;
}

const ms = (v: number): string => (v < 1 ? `${(v * 1000).toFixed(0)} ms` : `${v.toFixed(2)} s`);

/** The virtual comparison: per seed its own saturation ramp, then every level and strategy; a table and the verdict at 80%. */
export function virtualComparison(
  profile: SimProfile,
  corpus: VirtualCorpus,
  o: { readonly firstSeed?: number; readonly seeds: number; readonly levels: readonly number[]; readonly strategies: readonly Strategy[]; readonly run: VirtualOptions; readonly rampStep: number; readonly saturation: number | undefined },
  log: (line: string) => void,
): { ok: boolean; report: string; runs: Array<VirtualRun & { levelPct: number; saturation: number }> } {
  const runs: Array<VirtualRun & { levelPct: number; saturation: number }> = [];
  const lines = ['| seed | saturation | load | strategy | TTFT p50 | TTFT p99 | TTFT mean | ideal TTFT p99 | output tok/s | prefix-cache hits | prompt tokens | KV use | preemptions per replica | requests per replica |', '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|'];
  const first = o.firstSeed ?? 1;
  for (let seed = first; seed < first + o.seeds; seed++) {
    // The ramp's steps need less time than the comparison: only their mean TTFT is used.
    const sat = o.saturation !== undefined ? { users: o.saturation, steps: [] } : virtualSaturation(profile, corpus, seed, o.rampStep, { ...o.run, durationS: Math.min(o.run.durationS, 120) });
    log(`seed ${seed}: saturation ${sat.users} users${sat.steps.length === 0 ? ' (given)' : ` (ramp mean TTFT: ${sat.steps.map((x) => `${x.users}→${ms(x.ttftMean)}`).join(', ')})`}`);
    for (const pct of o.levels) {
      const users = Math.max(1, Math.round((sat.users * pct) / 100));
      for (const strategy of o.strategies) {
        const r = { ...runVirtual(profile, corpus, strategy, users, seed, o.run), levelPct: pct, saturation: sat.users };
        runs.push(r);
        const row = `| ${seed} | ${sat.users} | ${pct}% (${users}) | ${strategy} | ${ms(r.ttftP50)} | ${ms(r.ttftP99)} | ${ms(r.ttftMean)} | ${ms(r.idealTtftP99)} | ${r.outputTokensPerS.toFixed(0)} | ${(r.prefixHitRate * 100).toFixed(1)}% | ${r.promptTokensMean.toFixed(0)} | ${(r.kvUsageMean * 100).toFixed(1)}% | ${r.preemptions.join(' / ')} | ${r.requests.join(' / ')} |`;
        lines.push(row);
        log(row);
        if (r.shared !== undefined) log(`  shared picker state: ${r.shared.messagesPerRequest.toFixed(3)} batches per request from the workers, ${r.shared.bytesPerRequest.toFixed(0)} bytes of JSON per request`);
        if (r.repeatedSessions > 0) log(`  ${repeatNote(r.repeatedSessions)}`);
        if (r.batchLearnedS !== undefined) log(`  batch sizes learned at ${r.batchLearnedS.map((t) => (t === null ? 'never' : `${t.toFixed(0)} s`)).join(' / ')} (measured from ${o.run.warmupS} s)`);
      }
    }
  }
  const ratios: number[] = [];
  const hitGain: number[] = [];
  const tput: number[] = [];
  const reachable: number[] = [];
  for (let seed = first; seed < first + o.seeds; seed++) {
    const rr = runs.find((r) => r.seed === seed && r.levelPct === 80 && r.strategy === 'round-robin');
    const pk = runs.find((r) => r.seed === seed && r.levelPct === 80 && r.strategy === 'picker');
    if (rr === undefined || pk === undefined || pk.ttftP99 <= 0 || rr.outputTokensPerS <= 0) continue;
    ratios.push(rr.ttftP99 / pk.ttftP99);
    hitGain.push(pk.prefixHitRate - rr.prefixHitRate);
    tput.push(pk.outputTokensPerS / rr.outputTokensPerS);
    if (pk.idealTtftP99 > 0) reachable.push(rr.ttftP99 / pk.idealTtftP99);
  }
  const mr = median(ratios);
  const mh = median(hitGain);
  const mt = median(tput);
  const ok = mr !== null && mr >= 2 && mh !== null && mh > 0 && mt !== null && mt >= 0.97;
  const verdict =
    mr === null
      ? '(no 80% level with both round robin and the picker: goal not evaluated)'
      : `At 80% of saturation, ${ratios.length} seed(s): TTFT p99 round robin / picker median ${mr.toFixed(2)}× (per seed ${ratios.map((x) => x.toFixed(2)).join(', ')}; goal >= 2×), prefix-cache hits +${((mh ?? 0) * 100).toFixed(1)} points, output tokens/s ×${(mt ?? 0).toFixed(3)}: ${ok ? 'goal met' : 'goal MISSED'}; round robin / the ideal bound's p99: median ${(median(reachable) ?? 0).toFixed(2)}× (the most any picker could reach)`;
  const repeated = runs.filter((r) => r.repeatedSessions > 0);
  const warning = repeated.length === 0 ? '' : `\n\nWARNING: ${repeated.length} of ${runs.length} runs used up the corpus and started its sessions again (up to ${Math.max(...repeated.map((r) => r.repeatedSessions))} sessions): a repeated session resends prompts the replicas computed before, which inflates prefix-cache hits and what affinity is worth; use a larger --sessions or a shorter run.`;
  return { ok, report: `${lines.join('\n')}\n\n${verdict}${warning}`, runs };
}
