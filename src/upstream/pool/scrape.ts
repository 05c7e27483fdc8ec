// The two numbers the picker reads from a model server's Prometheus /metrics: requests waiting to be
// scheduled and the share of KV-cache blocks in use. vLLM's names (and the ones older vLLM and
// SGLang-compatible servers use); a series with several label sets is summed (waiting) or maxed
// (KV-cache use). Fetched with undici on the endpoint's own connection pool.
import type { Pool } from 'undici';
import { classifyUpstreamError } from '../errors.js';

export interface ReplicaLoad {
  readonly waiting: number;
  readonly kvCacheUsage: number;
}

const WAITING = ['vllm:num_requests_waiting'];
const KV_USAGE = ['vllm:kv_cache_usage_perc', 'vllm:gpu_cache_usage_perc'];

/** Reads the picker's gauges from Prometheus text; undefined when neither is present. */
export function parseLoad(text: string): ReplicaLoad | undefined {
  let waiting: number | undefined;
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
      const isKv = !isWaiting && KV_USAGE.includes(name);
      if (isWaiting || isKv) {
        const v = sampleValue(line, nameEnd);
        if (v !== undefined) {
          if (isWaiting) waiting = (waiting ?? 0) + v;
          else kv = Math.max(kv ?? 0, v);
        }
      }
    }
    pos = end + 1;
  }
  if (waiting === undefined && kv === undefined) return undefined;
  return { waiting: waiting ?? 0, kvCacheUsage: kv ?? 0 };
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
  kvCacheUsage: number;
  scrapedAt: number;
  inflightAtScrape: number;
  scrapeFailures: number;
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
      r.waiting = load.waiting;
      r.kvCacheUsage = load.kvCacheUsage;
      r.scrapedAt = now();
      r.inflightAtScrape = r.handle.inflight;
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
