// The built-in endpoint picker of one InferencePool: filters, then weighted scorers, then the best
// total (llm-d's filter → score → pick). It lives across config reloads (keyed by the pool), so
// what it learned (scraped load, prefix blocks, sessions, ejections) survives an edit of the
// endpoint list; endpoints that stay keep their state.
//
// Per request it does no I/O and allocates little (a view of the prompt's first blocks, the debug
// string when asked): the prefix hashes and the scores go into the pool's own typed arrays.
import type { Endpoint, InferencePoolConfig, ScorerName } from '../../config/types.js';
import type { EndpointHandle } from '../pools.js';
import { DnsEndpoints } from './dns.js';
import { PendingPrefill, type HashedPrompt } from './prefill.js';
import { hashBlocks, PrefixIndex, promptStart } from './prefix.js';
import { argBest, effectiveKv, effectiveOccupancy, effectiveQueue, freshness, kvScore, prefillScores, prefixScore, queueScores } from './scorers.js';
import { scrapeInto, type ScrapedReplica } from './scrape.js';
import type { PickRequest } from './request-view.js';
import { SessionPlacements, sessionOf } from './sessions.js';
import { workerShare, type PickerShare } from './share.js';

const EJECT_BASE_MS = 1_000;
const EJECT_MAX_MS = 30_000;

/** A replica as the picker keeps it: what its scrapes said (ScrapedReplica), and what the picker learned. */
export interface ReplicaState extends ScrapedReplica {
  readonly id: string;
  readonly handle: EndpointHandle;
  /** Ejected (not picked while others are available) until this monotonic ms. */
  ejectedUntil: number;
  backoffMs: number;
  picks: number;
  readonly scores: Record<ScorerName, number>;
  readonly prefix: PrefixIndex;
  /** The prefill it still has to run for the gateway's requests (until their first byte). */
  readonly prefill: PendingPrefill;
}

export type PickReason = 'scored' | 'session' | 'round-robin' | 'least-request' | 'only' | 'all-ejected';

export interface PickerStats {
  readonly pool: string;
  readonly endpoints: ReadonlyArray<{
    readonly id: string;
    readonly picks: number;
    readonly scores: Readonly<Record<ScorerName, number>>;
    readonly ejected: boolean;
    readonly inflight: number;
    /** The batch size learned from its metrics (0: not learned yet; see applyLoad). */
    readonly batchSlots: number;
  }>;
}

export class PoolPicker {
  config: InferencePoolConfig;
  replicas: ReplicaState[] = [];
  private readonly byId = new Map<string, ReplicaState>();
  private readonly sessions = new SessionPlacements<ReplicaState>();
  private readonly dns: DnsEndpoints;
  private timer: NodeJS.Timeout | undefined;
  private rr = 0;
  // Per-replica working arrays, resized with the endpoint list.
  private depth = new Float64Array(0);
  private inflight = new Float64Array(0);
  private total = new Float64Array(0);
  private queue = new Float64Array(0);
  private prefill = new Float64Array(0);
  private candidates = new Int32Array(0);
  /** The current request's prefix block hashes (picking is synchronous: one request at a time). */
  private hashes = new Uint32Array(0);
  /** The current request's prompt as hashed, for the prefill estimates. */
  private readonly prompt: { -readonly [K in keyof HashedPrompt]: HashedPrompt[K] } = { body: Buffer.alloc(0), start: 0, promptBytes: 0, hashes: this.hashes, blocks: 0, blockBytes: 0 };
  /** The last decision, for the debug header and the trace (read right after pick). */
  lastReason: PickReason = 'only';
  lastReplica: ReplicaState | undefined;
  lastMatched = 0;
  lastBlocks = 0;
  /** Estimated uncached prompt tokens the last pick added to its replica's pending prefill (see prefillDone). */
  lastPrefillTokens = 0;

  constructor(
    config: InferencePoolConfig,
    private readonly handleFor: (ep: Endpoint) => EndpointHandle,
    readonly now: () => number,
    private readonly share: PickerShare | undefined = workerShare(),
  ) {
    this.config = config;
    this.dns = new DnsEndpoints(() => this.rebuild());
    this.configure(config);
    share?.attach(this);
  }

  /** A new config for the pool (hot reload): new endpoints join, gone ones leave, the rest keep state. */
  configure(config: InferencePoolConfig): void {
    const running = this.timer !== undefined;
    this.stopScraping();
    if (config.prefixLruPerEndpoint !== this.config.prefixLruPerEndpoint) this.byId.clear();
    this.config = config;
    if (this.hashes.length !== config.prefixMaxBlocks) this.hashes = new Uint32Array(config.prefixMaxBlocks);
    this.dns.watch(config.endpoints, Math.max(5_000, config.scrapeIntervalMs), config.dnsServers);
    this.rebuild();
    if (running) this.start();
  }

  /** The handles of the current endpoints (for the registry: these pools stay open). */
  handles(): EndpointHandle[] {
    return this.replicas.map((r) => r.handle);
  }

  start(): void {
    if (this.timer !== undefined || this.config.strategy !== 'picker') return;
    this.timer = setInterval(() => this.scrapeAll(), this.config.scrapeIntervalMs);
    this.timer.unref();
    this.scrapeAll();
  }

  stop(): void {
    this.stopScraping();
    this.dns.stop();
    this.share?.detach(this);
  }

  private stopScraping(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  /**
   * The endpoint for one attempt, or undefined when the pool has none. `req` gives the session key
   * its headers, method and path; `tried` holds endpoints this request already failed on; they are
   * avoided while anything else is left.
   */
  pick(req: PickRequest, body: Buffer, tried: ReadonlySet<EndpointHandle>, nowMs: number): EndpointHandle | undefined {
    const reps = this.replicas;
    const count = reps.length;
    this.lastMatched = 0;
    this.lastBlocks = 0;
    this.lastPrefillTokens = 0;
    if (count === 0) return undefined;
    if (count === 1) return this.chose(reps[0] as ReplicaState, 'only');
    // Filter: not tried, not ejected; if that leaves nothing, ignore ejection, then tries.
    let n = this.filter(tried, nowMs, true);
    let reason: PickReason | undefined;
    if (n === 0) {
      n = this.filter(tried, nowMs, false);
      reason = 'all-ejected';
    }
    if (n === 0) {
      n = this.filter(new Set(), nowMs, false);
      reason = 'all-ejected';
    }
    const cand = this.candidates;
    const cfg = this.config;
    switch (cfg.strategy) {
      case 'round-robin': {
        const i = this.rr++ % n;
        return this.chose(reps[cand[i] as number] as ReplicaState, reason ?? 'round-robin');
      }
      case 'least-request': {
        for (let i = 0; i < n; i++) this.total[cand[i] as number] = -(reps[cand[i] as number] as ReplicaState).handle.inflight;
        const best = argBest(this.total, this.inflight, cand, n, this.rr++ % n);
        return this.chose(reps[cand[best] as number] as ReplicaState, reason ?? 'least-request');
      }
      case 'picker':
        break;
    }

    const freshFor = cfg.scrapeIntervalMs * 1.5;
    for (let i = 0; i < n; i++) {
      const j = cand[i] as number;
      const r = reps[j] as ReplicaState;
      const f = freshness(nowMs - r.scrapedAt, freshFor, cfg.staleAfterMs);
      this.inflight[j] = r.handle.inflight;
      this.depth[j] = effectiveQueue(r.waiting, r.handle.inflight, r.inflightAtScrape, f);
      r.scores['kv-cache'] = kvScore(effectiveKv(r.kvCacheUsage, f));
    }

    const session = sessionOf(cfg, req, body);
    if (session !== undefined) {
      const held = this.sessions.get(session);
      if (held !== undefined && this.isCandidate(held, n) && !this.saturated(held, nowMs)) {
        const blocks = this.hashPrompt(body);
        this.lastMatched = blocks === 0 ? 0 : held.prefix.match(this.hashes, blocks);
        this.lastPrefillTokens = held.prefill.send(this.prompt, this.lastMatched, nowMs);
        held.prefix.record(this.hashes, blocks);
        return this.chose(held, 'session');
      }
    }

    const blocks = this.hashPrompt(body);
    // Saturation filter (llm-d's low-queue filter): drop replicas over the queue or KV threshold
    // while any is below both.
    let kept = 0;
    for (let i = 0; i < n; i++) if (!this.saturated(reps[cand[i] as number] as ReplicaState, nowMs)) cand[kept++] = cand[i] as number;
    // All saturated: the compaction wrote nothing, so every candidate stays.
    if (kept > 0) n = kept;

    queueScores(this.depth, cand, n, this.queue, cfg.queueThreshold);
    for (let i = 0; i < n; i++) {
      const j = cand[i] as number;
      const r = reps[j] as ReplicaState;
      const matched = blocks === 0 ? 0 : r.prefix.match(this.hashes, blocks);
      r.scores['prefix-cache'] = prefixScore(matched, blocks);
      // The prefill ahead of this request's first token there: what the replica still has to
      // compute for others, and what it would compute for this one.
      this.prefill[j] = r.prefill.ahead(nowMs) + r.prefill.estimate(this.prompt, matched);
    }
    prefillScores(this.prefill, cand, n, this.prefill);
    const w = cfg.weights;
    for (let i = 0; i < n; i++) {
      const j = cand[i] as number;
      const r = reps[j] as ReplicaState;
      r.scores.queue = this.queue[j] as number;
      r.scores.prefill = this.prefill[j] as number;
      this.total[j] = w.queue * r.scores.queue + w['kv-cache'] * r.scores['kv-cache'] + w['prefix-cache'] * r.scores['prefix-cache'] + w.prefill * r.scores.prefill;
    }
    const best = reps[cand[argBest(this.total, this.inflight, cand, n, this.rr++ % n)] as number] as ReplicaState;
    this.lastMatched = Math.round(best.scores['prefix-cache'] * blocks);
    this.lastPrefillTokens = best.prefill.send(this.prompt, this.lastMatched, nowMs);
    best.prefix.record(this.hashes, blocks);
    if (session !== undefined) this.remember(session, best);
    return this.chose(best, reason ?? 'scored');
  }

  /** A request to this endpoint failed to connect: eject it, for twice as long as last time. */
  reportFailure(handle: EndpointHandle, nowMs: number): void {
    const r = this.replicaOf(handle);
    if (r !== undefined) this.eject(r, nowMs);
  }

  /**
   * The request a pick sent to this endpoint produced its first byte, or ended without one: its
   * prefill (`tokens`, the pick's lastPrefillTokens) is no longer pending there.
   */
  prefillDone(handle: EndpointHandle, tokens: number): void {
    if (tokens <= 0) return;
    const r = this.replicaOf(handle);
    if (r !== undefined) r.prefill.done(tokens, this.now());
  }

  /** The endpoint answered: it is healthy again and its next ejection starts from the base backoff. */
  reportSuccess(handle: EndpointHandle): void {
    const r = this.replicaOf(handle);
    if (r !== undefined && r.backoffMs !== 0) {
      r.backoffMs = 0;
      r.ejectedUntil = 0;
    }
  }

  /** The decision just made, as the debug response header shows it. */
  describeLast(): string {
    const r = this.lastReplica;
    if (r === undefined) return 'none';
    const s = r.scores;
    return `endpoint=${r.id}; reason=${this.lastReason}; queue=${s.queue.toFixed(3)}; kv-cache=${s['kv-cache'].toFixed(3)}; prefix-cache=${s['prefix-cache'].toFixed(3)}; prefill=${s.prefill.toFixed(3)}; prefix-blocks=${this.lastMatched}/${this.lastBlocks}; in-flight=${r.handle.inflight}`;
  }

  stats(): PickerStats {
    const now = this.now();
    return {
      pool: this.config.key,
      endpoints: this.replicas.map((r) => ({ id: r.id, picks: r.picks, scores: { ...r.scores }, ejected: r.ejectedUntil > now, inflight: r.handle.inflight, batchSlots: r.batchSlots })),
    };
  }

  /** The current replica with this id (`host:port`), if the pool has it. */
  replica(id: string): ReplicaState | undefined {
    const r = this.byId.get(id);
    return r !== undefined && this.replicas.includes(r) ? r : undefined;
  }

  /** A session another worker placed (share.ts); false when this pool has no such endpoint now. */
  learnSession(session: string, id: string): boolean {
    const r = this.replica(id);
    if (r === undefined) return false;
    this.remember(session, r, false);
    return true;
  }

  // ---- internals --------------------------------------------------------------------------------

  private chose(r: ReplicaState, reason: PickReason): EndpointHandle {
    r.picks++;
    this.lastReplica = r;
    this.lastReason = reason;
    return r.handle;
  }

  private hashPrompt(body: Buffer): number {
    const start = promptStart(body);
    this.lastBlocks = hashBlocks(body, start, this.config.prefixBlockBytes, this.hashes);
    const p = this.prompt;
    p.body = body;
    p.start = start;
    p.promptBytes = body.length - start;
    p.hashes = this.hashes;
    p.blocks = this.lastBlocks;
    p.blockBytes = this.config.prefixBlockBytes;
    return this.lastBlocks;
  }

  private filter(tried: ReadonlySet<EndpointHandle>, nowMs: number, skipEjected: boolean): number {
    let n = 0;
    const reps = this.replicas;
    for (let i = 0; i < reps.length; i++) {
      const r = reps[i] as ReplicaState;
      if (tried.has(r.handle) || (skipEjected && r.ejectedUntil > nowMs)) continue;
      this.candidates[n++] = i;
    }
    return n;
  }

  private isCandidate(r: ReplicaState, n: number): boolean {
    for (let i = 0; i < n; i++) if (this.replicas[this.candidates[i] as number] === r) return true;
    return false;
  }

  private saturated(r: ReplicaState, nowMs: number): boolean {
    const cfg = this.config;
    const f = freshness(nowMs - r.scrapedAt, cfg.scrapeIntervalMs * 1.5, cfg.staleAfterMs);
    // The replica's own queue, not the gateway's in-flight count: long decodes keep many requests
    // in flight on a replica that still schedules new ones at once.
    if (r.waiting * f >= cfg.queueThreshold || effectiveKv(r.kvCacheUsage, f) >= cfg.kvCacheThreshold) return true;
    // A full batch: a request sent there waits for a running answer to finish, however much of its
    // prompt the replica holds. The queue shows that only once requests are already waiting (and a
    // scrape later); the batch size the replica has shown, against what it is running now (the
    // scrape, plus what the gateway sent since; the gateway's own in-flight count when the scrape
    // is stale), shows it as the last slot is taken.
    return r.batchSlots > 0 && effectiveOccupancy(r.running, r.waiting, r.handle.inflight, r.inflightAtScrape, f) >= r.batchSlots;
  }

  private remember(session: string, r: ReplicaState, tell = true): void {
    if (this.sessions.place(session, r) && tell) this.share?.session(this, session, r.id);
  }

  private eject(r: ReplicaState, nowMs: number): void {
    if (r.ejectedUntil > nowMs) return;
    r.backoffMs = r.backoffMs === 0 ? EJECT_BASE_MS : Math.min(EJECT_MAX_MS, r.backoffMs * 2);
    r.ejectedUntil = nowMs + r.backoffMs;
  }

  private replicaOf(handle: EndpointHandle): ReplicaState | undefined {
    for (const r of this.replicas) if (r.handle === handle) return r;
    return undefined;
  }

  /** Endpoint list (after DNS) → replica states, keeping the state of those that stay. */
  private rebuild(): void {
    const next: ReplicaState[] = [];
    const seen = new Set<string>();
    for (const ep of this.dns.resolved()) {
      const handle = this.handleFor(ep);
      const id = ep.host.includes(':') ? `[${ep.host}]:${ep.port}` : `${ep.host}:${ep.port}`;
      if (seen.has(id)) continue;
      seen.add(id);
      let r = this.byId.get(id);
      if (r === undefined || r.handle !== handle) {
        r = {
          id,
          handle,
          waiting: 0,
          running: 0,
          batchSlots: r?.batchSlots ?? 0,
          generated: -1,
          mostRunning: r?.mostRunning ?? 0,
          ceilingHits: r?.ceilingHits ?? 0,
          kvCacheUsage: 0,
          scrapedAt: Number.NaN,
          inflightAtScrape: 0,
          scrapeFailures: 0,
          ejectedUntil: 0,
          backoffMs: 0,
          picks: r?.picks ?? 0,
          scores: { queue: 0, 'kv-cache': 0, 'prefix-cache': 0, prefill: 0 },
          prefix: new PrefixIndex(this.config.prefixLruPerEndpoint, this.share),
          prefill: new PendingPrefill(this.share !== undefined && this.share.prefillTokens > 0 ? this.share : undefined),
          scraping: false,
        };
        this.byId.set(id, r);
      }
      next.push(r);
    }
    for (const [id, r] of this.byId) if (!seen.has(id) && !next.includes(r)) this.byId.delete(id);
    this.sessions.keepOnly(seen);
    this.replicas = next;
    const n = next.length;
    if (this.depth.length !== n) {
      this.depth = new Float64Array(n);
      this.inflight = new Float64Array(n);
      this.total = new Float64Array(n);
      this.queue = new Float64Array(n);
      this.prefill = new Float64Array(n);
      this.candidates = new Int32Array(n);
    }
  }

  private scrapeAll(): void {
    const cfg = this.config;
    const timeoutMs = Math.max(cfg.scrapeIntervalMs * 2, 1_000);
    for (const r of this.replicas) scrapeInto(r, cfg.metricsPath, timeoutMs, this.now, () => this.eject(r, this.now()));
  }
}
