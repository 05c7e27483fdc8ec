// The gates' view of a live run: client figures from the aggregator's per-second sums, engine
// figures from the scraped telemetry.
import type { SignalSource } from './gates.js';
import type { Aggregator } from './stats/aggregate.js';
import type { Telemetry } from './telemetry/scraper.js';

export function liveSignals(agg: Aggregator, tel: Telemetry): SignalSource {
  const masks = new Map<string, boolean[] | undefined>();
  const mask = (profiles: readonly string[]): boolean[] | undefined => {
    if (profiles.length === 0) return undefined;
    const key = profiles.join('\0');
    let m = masks.get(key);
    if (m === undefined) {
      m = agg.profiles.map((p) => profiles.includes(p));
      masks.set(key, m);
    }
    return m;
  };
  return {
    client: (from, to, profiles) => agg.window(from * 1000, to * 1000, mask(profiles)),
    engineTtft: (from, to) => tel.histMean('engine.ttft', from, to),
    engineCounts: (from, to) => {
      const preemptions = tel.delta('engine.preemptions', from, to);
      const requests = tel.delta('engine.requests', from, to);
      if (preemptions === undefined || requests === undefined) return undefined;
      return { preemptions, requests };
    },
    engineGauge: (key, from, to) => tel.gauge(key === 'kv_usage' ? 'engine.kv_usage' : 'engine.waiting', from, to)?.mean,
  };
}
