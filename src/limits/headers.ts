// x-ratelimit-* response headers in OpenAI's shape (limit, remaining, reset for requests and for
// tokens), reporting the most restrictive bucket of each unit; reset as a Go-style duration ("6m0s").

export interface HeaderInput {
  readonly unit: 'requests' | 'tokens';
  readonly limit: number;
  readonly remaining: number;
  readonly resetMs: number;
}

const NAMES = {
  requests: { limit: 'x-ratelimit-limit-requests', remaining: 'x-ratelimit-remaining-requests', reset: 'x-ratelimit-reset-requests' },
  tokens: { limit: 'x-ratelimit-limit-tokens', remaining: 'x-ratelimit-remaining-tokens', reset: 'x-ratelimit-reset-tokens' },
} as const;
const UNITS = ['requests', 'tokens'] as const;

export function rateLimitHeaders(inputs: readonly HeaderInput[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const unit of UNITS) {
    let best: HeaderInput | undefined;
    for (const h of inputs) {
      if (h.unit !== unit) continue;
      if (best === undefined || h.remaining < best.remaining || (h.remaining === best.remaining && h.resetMs > best.resetMs)) best = h;
    }
    if (best === undefined) continue;
    const n = NAMES[unit];
    out[n.limit] = String(best.limit);
    out[n.remaining] = String(best.remaining);
    out[n.reset] = formatReset(best.resetMs);
  }
  return out;
}

/** Whole seconds until the last of the given buckets frees budget (at least 1). */
export function retryAfterSeconds(resetMs: readonly number[]): number {
  let max = 0;
  for (const r of resetMs) if (r > max) max = r;
  return Math.max(1, Math.ceil(max / 1000));
}

export function formatReset(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))}ms`;
  let s = Math.ceil(ms / 1000);
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  if (h > 0) return `${h}h${m}m${s}s`;
  if (m > 0) return `${m}m${s}s`;
  return `${s}s`;
}
