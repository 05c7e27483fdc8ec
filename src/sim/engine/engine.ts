// The engine: a step loop after vLLM V1's scheduler (vllm/v1/core/sched/scheduler.py).
// Each step:
//  1. running requests first, in order: each gets the tokens it still needs (1 when decoding, a
//     prefill chunk otherwise) within the step's token budget; if its KV blocks cannot be allocated,
//     the newest running request is preempted (blocks freed, recomputed later) until they can;
//  2. then, if nothing was preempted, waiting requests in FCFS order while the budget, max_num_seqs
//     and free blocks (less a watermark) allow, reusing cached prefix blocks;
//  3. the step lasts the cost model's time; at its end every sequence that caught up with its tokens
//     emits one token, together: inter-token latencies are correlated across requests and stretch
//     when a long prefill shares the step.
// Time is passed in (milliseconds), so a real-time driver and a virtual-time driver share this code.
import { blockHash, KvCache } from './kv-cache.js';
import type { Sequence } from './sequence.js';
import { EngineStats, type EngineFinishReason } from './stats.js';
import type { CostModel, SimProfile } from '../profile.js';
import { numKvBlocks } from '../profile.js';

export interface EngineConfig {
  readonly numBlocks: number;
  readonly blockSize: number;
  readonly prefixCaching: boolean;
  readonly watermark: number;
  readonly maxNumSeqs: number;
  readonly maxNumBatchedTokens: number;
  readonly longPrefillTokenThreshold: number;
  readonly maxWaiting: number;
  readonly maxModelLen: number;
  readonly cost: CostModel;
}

export function engineConfig(p: SimProfile): EngineConfig {
  return {
    numBlocks: numKvBlocks(p),
    blockSize: p.cache.blockSize,
    prefixCaching: p.cache.prefixCaching,
    watermark: p.cache.watermark,
    maxNumSeqs: p.scheduler.maxNumSeqs,
    maxNumBatchedTokens: p.scheduler.maxNumBatchedTokens,
    longPrefillTokenThreshold: p.scheduler.longPrefillTokenThreshold,
    maxWaiting: p.scheduler.maxWaiting,
    maxModelLen: p.maxModelLen,
    cost: p.cost,
  };
}

export interface StepPlan {
  readonly seqs: Sequence[];
  readonly newTokens: number[];
  readonly startMs: number;
  readonly durationMs: number;
  readonly prefillTokens: number;
  readonly decodeSeqs: number;
  readonly contextTokens: number;
}

/** The step-time model: fixed + prefill tokens + decoding sequences + attended context. */
export function stepTimeMs(c: CostModel, prefillTokens: number, decodeSeqs: number, contextTokens: number): number {
  return c.fixedMs + c.prefillTokenMs * prefillTokens + c.decodeSeqMs * decodeSeqs + c.contextTokenMs * contextTokens;
}

export class Engine {
  readonly config: EngineConfig;
  readonly kv: KvCache;
  readonly stats: EngineStats;
  readonly running: Sequence[] = [];
  waiting: Sequence[] = [];
  /** Arrived since the last step began; they join the waiting queue when the next step is planned. */
  private inbox: Sequence[] = [];
  private readonly scratch: Uint32Array;
  private readonly watermarkBlocks: number;
  private stepInFlight: StepPlan | null = null;

  constructor(config: EngineConfig) {
    this.config = config;
    this.kv = new KvCache(config.numBlocks, config.blockSize, config.prefixCaching);
    this.stats = new EngineStats(config.maxModelLen);
    this.scratch = new Uint32Array(config.blockSize);
    this.watermarkBlocks = Math.floor(config.watermark * config.numBlocks);
  }

  /** Tokens the KV cache can hold at once. */
  get capacityTokens(): number {
    return this.config.numBlocks * this.config.blockSize;
  }

  hasWork(): boolean {
    return this.running.length > 0 || this.waiting.length > 0 || this.inbox.length > 0;
  }

  /** Requests in the running batch (what /metrics reports as vllm:num_requests_running). */
  get numRunning(): number {
    return this.running.length;
  }

  /** Requests waiting for a slot, including those that arrived during the current step. */
  get numWaiting(): number {
    return this.waiting.length + this.inbox.length;
  }

  get busy(): boolean {
    return this.stepInFlight !== null;
  }

  /**
   * Queue a request; false when the waiting queue is full (the server answers 503). Like vLLM's
   * engine core, requests that arrive during a step are taken in between steps: their queue time
   * starts then (vllm:request_queue_time_seconds), while TTFT counts from arrival.
   */
  submit(seq: Sequence, _nowMs: number): boolean {
    if (this.numWaiting >= this.config.maxWaiting) {
      this.stats.rejected++;
      return false;
    }
    seq.status = 'waiting';
    this.inbox.push(seq);
    return true;
  }

  /** Client went away: drop the request wherever it is and free its blocks. */
  abort(seq: Sequence, nowMs: number): void {
    if (seq.status === 'finished' || seq.status === 'new') return;
    if (seq.status === 'waiting') {
      const i = this.waiting.indexOf(seq);
      if (i >= 0) this.waiting.splice(i, 1);
      const j = this.inbox.indexOf(seq);
      if (j >= 0) this.inbox.splice(j, 1);
    } else {
      const i = this.running.indexOf(seq);
      if (i >= 0) this.running.splice(i, 1);
    }
    this.finish(seq, 'abort', nowMs);
  }

  /** Plan the next step at `nowMs`; null when there is nothing to run. */
  schedule(nowMs: number): StepPlan | null {
    const cfg = this.config;
    if (this.inbox.length > 0) {
      for (const seq of this.inbox) {
        seq.queuedMs = nowMs;
        this.waiting.push(seq);
      }
      this.inbox = [];
    }
    let budget = cfg.maxNumBatchedTokens;
    const seqs: Sequence[] = [];
    const newTokens: number[] = [];
    let preempted = false;

    // 1. Running requests, oldest first.
    let i = 0;
    while (i < this.running.length && budget > 0) {
      const seq = this.running[i] as Sequence;
      let n = seq.numTokens - seq.numComputed;
      if (cfg.longPrefillTokenThreshold > 0 && n > cfg.longPrefillTokenThreshold) n = cfg.longPrefillTokenThreshold;
      if (n > budget) n = budget;
      let scheduled = true;
      while (!this.allocateSlots(seq, n, [], false)) {
        const victim = this.running.pop() as Sequence;
        this.preempt(victim, nowMs);
        preempted = true;
        if (victim === seq) {
          scheduled = false;
          break;
        }
      }
      if (!scheduled) break;
      seqs.push(seq);
      newTokens.push(n);
      budget -= n;
      i++;
    }

    // 2. Waiting requests, FCFS, only if this step preempted nothing (vLLM does the same: admitting
    // new work while evicting old would thrash).
    if (!preempted) {
      while (this.waiting.length > 0 && budget > 0 && this.running.length < cfg.maxNumSeqs) {
        const seq = this.waiting[0] as Sequence;
        const hit = seq.numComputed === 0 ? this.computedBlocks(seq) : [];
        const cachedTokens = hit.length * cfg.blockSize;
        let n = seq.numTokens - seq.numComputed - cachedTokens;
        if (cfg.longPrefillTokenThreshold > 0 && n > cfg.longPrefillTokenThreshold) n = cfg.longPrefillTokenThreshold;
        if (n > budget) n = budget;
        if (!this.allocateSlots(seq, n, hit, true)) break; // head-of-line: FCFS waits for blocks
        this.waiting.shift();
        seq.numComputed += cachedTokens;
        if (seq.cachedPromptTokens < 0) {
          seq.cachedPromptTokens = Math.min(cachedTokens, seq.numPrompt);
          this.stats.prefixQueries += seq.numTokens;
          this.stats.prefixHits += cachedTokens;
        }
        if (seq.scheduledMs < 0) {
          seq.scheduledMs = nowMs;
          seq.firstQueuedMs = seq.queuedMs;
        }
        seq.status = 'running';
        this.running.push(seq);
        seqs.push(seq);
        newTokens.push(n);
        budget -= n;
      }
    }

    if (seqs.length === 0) return null;
    let prefillTokens = 0;
    let decodeSeqs = 0;
    let contextTokens = 0;
    for (let k = 0; k < seqs.length; k++) {
      const seq = seqs[k] as Sequence;
      const n = newTokens[k] as number;
      // A decode step computes the one token sampled last step; anything else is prefill work
      // (a first prompt chunk, a later chunk, or a preempted request's recompute).
      if (n === 1 && seq.numComputed === seq.numTokens - 1 && seq.outputIds.length > 0) decodeSeqs++;
      else prefillTokens += n;
      contextTokens += seq.numComputed + n;
    }
    const durationMs = stepTimeMs(cfg.cost, prefillTokens, decodeSeqs, contextTokens);
    const plan: StepPlan = { seqs, newTokens, startMs: nowMs, durationMs, prefillTokens, decodeSeqs, contextTokens };
    this.stepInFlight = plan;
    return plan;
  }

  /** End the step at `nowMs`: advance computed tokens, emit tokens, finish requests. */
  complete(plan: StepPlan, nowMs: number): void {
    this.stepInFlight = null;
    const st = this.stats;
    st.steps++;
    st.busyMs += plan.durationMs;
    let stepTokens = 0;
    let generated = 0;
    for (let k = 0; k < plan.seqs.length; k++) {
      const seq = plan.seqs[k] as Sequence;
      const n = plan.newTokens[k] as number;
      stepTokens += n;
      if (seq.status !== 'running') continue; // aborted or preempted mid-step
      seq.numComputed += n;
      if (seq.numComputed < seq.numTokens) continue; // a prefill chunk: no token yet
      seq.outputIds.push(seq.nextTokenId());
      generated++;
      if (seq.firstTokenMs < 0) {
        seq.firstTokenMs = nowMs;
        st.promptTokens += seq.numPrompt;
        st.ttft.observe((nowMs - seq.arrivalMs) / 1000);
      } else {
        st.itl.observe((nowMs - seq.lastTokenMs) / 1000);
      }
      seq.lastTokenMs = nowMs;
      seq.sink.onToken(seq, nowMs);
      if (seq.outputIds.length >= seq.outputTokens && seq.status === 'running') {
        const idx = this.running.indexOf(seq);
        if (idx >= 0) this.running.splice(idx, 1);
        this.finish(seq, seq.stopIsLength ? 'length' : 'stop', nowMs);
      }
    }
    st.generationTokens += generated;
    st.processedTokens += stepTokens;
    st.iterationTokens.observe(stepTokens);
  }

  private finish(seq: Sequence, reason: EngineFinishReason, nowMs: number): void {
    this.kv.release(seq.blocks);
    seq.blocks = [];
    seq.status = 'finished';
    seq.finishedMs = nowMs;
    const st = this.stats;
    st.success[reason]++;
    const s = (ms: number): number => Math.max(0, ms) / 1000;
    st.e2e.observe(s(nowMs - seq.arrivalMs));
    const scheduled = seq.scheduledMs < 0 ? nowMs : seq.scheduledMs;
    st.queue.observe(s(scheduled - (seq.firstQueuedMs < 0 ? seq.arrivalMs : seq.firstQueuedMs)));
    const first = seq.firstTokenMs < 0 ? nowMs : seq.firstTokenMs;
    const last = seq.lastTokenMs < 0 ? nowMs : seq.lastTokenMs;
    st.prefill.observe(s(first - scheduled));
    st.decode.observe(s(last - first));
    st.inference.observe(s(last - scheduled));
    st.promptTokensPerRequest.observe(seq.numPrompt);
    st.generationTokensPerRequest.observe(seq.outputIds.length);
    st.maxGenerationTokens.observe(seq.outputTokens);
    st.nParam.observe(1);
    if (seq.maxTokensParam !== undefined) st.maxTokensParam.observe(seq.maxTokensParam);
    if (seq.outputIds.length > 1) st.requestTpot.observe(s(last - first) / (seq.outputIds.length - 1));
    seq.sink.onFinish(seq, reason, nowMs);
  }

  private preempt(seq: Sequence, nowMs: number): void {
    this.kv.release(seq.blocks);
    seq.blocks = [];
    seq.cachedBlocks = 0;
    seq.numComputed = 0;
    seq.status = 'waiting';
    seq.numPreemptions++;
    seq.queuedMs = nowMs;
    this.stats.preemptions++;
    this.waiting.unshift(seq);
  }

  /** Extend seq.blockHashes to every full block of its known tokens. */
  private hashBlocks(seq: Sequence): void {
    const bs = this.config.blockSize;
    const full = Math.floor(seq.numTokens / bs);
    const scratch = this.scratch;
    for (let b = seq.blockHashes.length; b < full; b++) {
      for (let j = 0; j < bs; j++) scratch[j] = seq.tokenAt(b * bs + j);
      const parent = b === 0 ? 0 : (seq.blockHashes[b - 1] as number);
      seq.blockHashes.push(blockHash(parent, scratch, 0, bs));
    }
  }

  /** The longest cached prefix, in whole blocks, leaving at least one token to compute. */
  private computedBlocks(seq: Sequence): number[] {
    if (!this.kv.prefixCaching) return [];
    this.hashBlocks(seq);
    const maxBlocks = Math.floor((seq.numTokens - 1) / this.config.blockSize);
    const hit: number[] = [];
    for (let b = 0; b < maxBlocks; b++) {
      const blk = this.kv.lookup(seq.blockHashes[b] as number);
      if (blk === undefined) break;
      hit.push(blk);
    }
    return hit;
  }

  /**
   * Make room for `n` more tokens (after `hit` prefix blocks). All or nothing: on false nothing
   * changed. New requests must also leave the watermark free.
   */
  private allocateSlots(seq: Sequence, n: number, hit: readonly number[], admitting: boolean): boolean {
    const kv = this.kv;
    const bs = this.config.blockSize;
    const total = seq.numComputed + hit.length * bs + n;
    const needBlocks = Math.ceil(total / bs) - seq.blocks.length - hit.length;
    let hitFree = 0;
    for (const b of hit) if (kv.isFree(b)) hitFree++;
    const available = kv.numFree - hitFree;
    if (needBlocks > available) return false;
    // The watermark keeps headroom for running requests to grow; with nothing running there is
    // nothing to protect, and holding back would starve a large request forever.
    if (admitting && this.running.length > 0 && available - needBlocks < this.watermarkBlocks) return false;
    for (const b of hit) {
      kv.touch(b);
      seq.blocks.push(b);
    }
    for (let k = 0; k < needBlocks; k++) seq.blocks.push(kv.allocate());
    // Name the blocks this step fills, so requests scheduled later can share them.
    if (kv.prefixCaching) {
      this.hashBlocks(seq);
      const fullAfter = Math.min(Math.floor(total / bs), seq.blockHashes.length);
      for (let b = seq.cachedBlocks; b < fullAfter; b++) kv.cacheBlock(seq.blocks[b] as number, seq.blockHashes[b] as number);
      if (fullAfter > seq.cachedBlocks) seq.cachedBlocks = fullAfter;
    }
    return true;
  }
}
