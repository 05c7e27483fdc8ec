// The numbers the picker reads from a model server's Prometheus /metrics: requests waiting to be
// scheduled, requests in the running batch, output tokens generated so far and the share of
// KV-cache blocks in use. vLLM's names (and the ones older vLLM and SGLang-compatible servers use);
// a series with several label sets is summed (waiting, running, generated) or maxed (KV-cache use).
// Fetched with undici on the endpoint's own connection pool.
import type { Pool } from 'undici';
import { classifyUpstreamError } from '../errors.js';

export interface ReplicaLoad {
  readonly waiting: number;
  readonly kvCacheUsage: number;
  /** Requests in the running batch; undefined when the server does not say. */
  readonly running?: number | undefined;
  /** Output tokens generated since the server started (a counter); undefined when it does not say. */
  readonly generated?: number | undefined;
}

const WAITING = ['vllm:num_requests_waiting'];
const RUNNING = ['vllm:num_requests_running'];
const GENERATED = ['vllm:generation_tokens_total', 'vllm:generation_tokens'];
const KV_USAGE = ['vllm:kv_cache_usage_perc', 'vllm:gpu_cache_usage_perc'];

/** Reads the picker's gauges from Prometheus text; undefined when neither is present. */
export function parseLoad(text: string): ReplicaLoad | undefined {
  let waiting: number | undefined;
  let running: number | undefined;
  let generated: number | undefined;
  let kv: number | undefined;
  let pos = 0;
  while (pos < text.length) {
    let end = text.indexOf('\n', pos);
    if (end < 0) end = text.length;
    if (text.charCodeAt(pos) !== 35 /* # */) {
      const line = text.slice(pos, end);
      const nameEnd = nameLength(line);
      const name = line.slice(0, nameEnd);
      const isWaiting = WAITING.includes(name);
      const isRunning = !isWaiting && RUNNING.includes(name);
      const isGenerated = !isWaiting && !isRunning && GENERATED.includes(name);
      const isKv = !isWaiting && !isRunning && !isGenerated && KV_USAGE.includes(name);
      if (isWaiting || isRunning || isGenerated || isKv) {
        const v = sampleValue(line, nameEnd);
        if (v !== undefined) {
          if (isWaiting) waiting = (waiting ?? 0) + v;
          else if (isRunning) running = (running ?? 0) + v;
          else if (isGenerated) generated = (generated ?? 0) + v;
          else kv = Math.max(kv ?? 0, v);
        }
      }
    }
    pos = end + 1;
  }
  if (waiting === undefined && kv === undefined) return undefined;
  return { waiting: waiting ?? 0, kvCacheUsage: kv ?? 0, running, generated };
}

function nameLength(line: string): number {
  for (let i = 0; i < line.length; i++) {
    const c = line.charCodeAt(i);
    if (c === 123 /* { */ || c === 32 || c === 9) return i;
  }
  return line.length;
}

function sampleValue(line: string, from: number): number | undefined {
  let i = from;
  if (line.charCodeAt(i) === 123) {
    const close = line.lastIndexOf('}');
    if (close < 0) return undefined;
    i = close + 1;
  }
  const parts = line.slice(i).trim().split(/\s+/);
  const v = Number(parts[0]);
  return Number.isFinite(v) ? v : undefined;
}

/** One scrape; rejects on connection errors, non-200 answers and pages without the gauges. */
export async function scrapeLoad(pool: Pool, path: string, timeoutMs: number): Promise<ReplicaLoad> {
  const res = await pool.request({ method: 'GET', path, headersTimeout: timeoutMs, bodyTimeout: timeoutMs, headers: { accept: 'text/plain' } });
  const text = await res.body.text();
  if (res.statusCode !== 200) throw new Error(`${path} answered HTTP ${res.statusCode}`);
  const load = parseLoad(text);
  if (load === undefined) throw new Error(`${path} has neither vllm:num_requests_waiting nor vllm:kv_cache_usage_perc`);
  return load;
}

/** Scrapes in a row that cannot connect before the endpoint is ejected (one failed request is enough). */
const SCRAPE_FAILURES_TO_EJECT = 2;

/** What a scrape reads and writes of a replica's state (the picker's ReplicaState). */
export interface ScrapedReplica {
  readonly handle: { readonly pool: Pool; readonly inflight: number };
  scraping: boolean;
  waiting: number;
  /** Requests in its running batch at the last scrape. */
  running: number;
  /** The replica's batch size as learned from its metrics (0: not learned yet); see applyLoad. */
  batchSlots: number;
  /** Output tokens the replica had generated at the last scrape (-1: not known). */
  generated: number;
  /** The largest batch any scrape found. */
  mostRunning: number;
  /** Scrapes, since `mostRunning` last grew, that found requests waiting beside a batch of that size after a step. */
  ceilingHits: number;
  kvCacheUsage: number;
  /** Monotonic ms of the last good scrape; NaN: never. */
  scrapedAt: number;
  /** The gateway's in-flight requests to it when that scrape answered. */
  inflightAtScrape: number;
  scrapeFailures: number;
}

/** Scrapes at the ceiling (see applyLoad) that make it the batch size. */
export const CEILING_SCRAPES = 3;

/**
 * A scrape's numbers into the replica's state. The batch size is learned when the replica, having
 * stepped since the last scrape (it generated at least a token for each running sequence), still
 * has requests waiting beside as many running as it has ever run, either in two scrapes in a row
 * with the same number running (it stepped, and admitted no one), or in CEILING_SCRAPES scrapes
 * at that same most since it was last exceeded: a running count that keeps stopping at the same
 * most with a queue beside it is a ceiling (its sequence limit, or its KV cache, which bounds it as
 * surely). At 80% of the knee a full batch's queue seldom outlasts one scrape interval, so the
 * first rule alone could take minutes to see it, or never did. Requests waiting alone say nothing:
 * those that arrive during a step wait for the next one however empty the batch is, and a step
 * carrying a long prefill can outlast a scrape interval; a step that admits no one below the most
 * the replica ran is short of prefill budget, not of slots. Until a replica has shown a full batch
 * its size stays unknown, and nothing is inferred from it.
 */
export function applyLoad(r: ScrapedReplica, load: ReplicaLoad, now: number): void {
  const running = load.running ?? 0;
  // A batch larger than the size learned proves it wrong: unknown again until a full batch shows.
  if (running > r.batchSlots) r.batchSlots = 0;
  if (running > r.mostRunning) {
    r.mostRunning = running;
    r.ceilingHits = 0;
  }
  const stepped = load.generated !== undefined && r.generated >= 0 && load.generated - r.generated >= running;
  if (stepped && running > 0 && running === r.mostRunning && load.waiting > 0) {
    r.ceilingHits++;
    if ((r.waiting > 0 && running === r.running) || r.ceilingHits >= CEILING_SCRAPES) r.batchSlots = running;
  }
  r.generated = load.generated ?? -1;
  r.waiting = load.waiting;
  r.running = running;
  r.kvCacheUsage = load.kvCacheUsage;
  r.scrapedAt = now;
  r.inflightAtScrape = r.handle.inflight;
}

/**
 * Scrapes one replica into its state, unless a scrape of it is still under way; calls `down` when
 * it has refused connections too many times in a row.
 */
export function scrapeInto(r: ScrapedReplica, path: string, timeoutMs: number, now: () => number, down: () => void): void {
  if (r.scraping) return;
  r.scraping = true;
  scrapeLoad(r.handle.pool, path, timeoutMs).then(
    (load) => {
      r.scraping = false;
      applyLoad(r, load, now());
      r.scrapeFailures = 0;
    },
    (err: unknown) => {
      r.scraping = false;
      // A replica that does not accept connections is down; one whose /metrics is broken or
      // missing still serves, and its numbers just go stale (the in-flight count remains).
      if (classifyUpstreamError(err).kind !== 'connect') return;
      r.scrapeFailures++;
      if (r.scrapeFailures >= SCRAPE_FAILURES_TO_EJECT) down();
    },
  );
}
