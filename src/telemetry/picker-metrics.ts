// The InferencePool endpoint picker on the admin /metrics: how many requests each endpoint got and
// the scores behind the latest decision, per scorer. Read from the pickers at scrape time, so the
// request path only bumps plain counters.
import { Counter, Gauge, type Registry } from 'prom-client';
import type { PickerStats } from '../upstream/pool/picker.js';

export function attachPickerTelemetry(registry: Registry, source: () => readonly PickerStats[]): void {
  const registers = [registry];
  new Counter({
    name: 'tollgate_endpoint_picks_total',
    help: 'Requests (attempts) the endpoint picker sent to each endpoint of an InferencePool.',
    labelNames: ['pool', 'endpoint'],
    registers,
    collect() {
      this.reset();
      for (const p of source()) for (const e of p.endpoints) this.inc({ pool: p.pool, endpoint: e.id }, e.picks);
    },
  });
  new Gauge({
    name: 'tollgate_endpoint_score',
    help: "Each endpoint's score (0 to 1, higher is better) per scorer in the picker's latest decision for an InferencePool.",
    labelNames: ['pool', 'endpoint', 'scorer'],
    registers,
    collect() {
      this.reset();
      for (const p of source()) {
        for (const e of p.endpoints) for (const [scorer, v] of Object.entries(e.scores)) this.set({ pool: p.pool, endpoint: e.id, scorer }, v);
      }
    },
  });
  new Gauge({
    name: 'tollgate_endpoint_batch_slots',
    help: "The batch size the picker learned for each endpoint of an InferencePool from its metrics (0: not learned yet; until then a full batch is seen only once requests queue).",
    labelNames: ['pool', 'endpoint'],
    registers,
    collect() {
      this.reset();
      for (const p of source()) for (const e of p.endpoints) this.set({ pool: p.pool, endpoint: e.id }, e.batchSlots);
    },
  });
  new Gauge({
    name: 'tollgate_endpoint_ejected',
    help: 'InferencePool endpoints the picker has ejected after failures (1) and is waiting out the backoff on.',
    labelNames: ['pool', 'endpoint'],
    registers,
    collect() {
      this.reset();
      for (const p of source()) for (const e of p.endpoints) this.set({ pool: p.pool, endpoint: e.id }, e.ejected ? 1 : 0);
    },
  });
}
