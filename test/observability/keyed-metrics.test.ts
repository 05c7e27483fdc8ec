// The gateway's fast per-request metrics expose exactly what prom-client's own Counter and
// Histogram would for the same updates: same series, same bucket counts, sums and counts, with an
// unset label left out. Checked on random update sequences, through the real Registry text output.
import fc from 'fast-check';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { KeyedCounter, KeyedGauge, KeyedHistogram } from '../../src/telemetry/keyed-metrics.js';
import { parseProm } from './helpers.js';

const LABELS = ['model', 'route', 'error_type'] as const;
type L = (typeof LABELS)[number];
const BUCKETS = [0.001, 0.01, 0.1, 1, 10];

function samples(text: string): string[] {
  return parseProm(text)
    .map((s) => `${s.name}{${Object.entries(s.labels).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `${k}=${v}`).join(',')}} ${s.value}`)
    .sort();
}

const update = fc.record({
  model: fc.constantFrom('gpt-oss-120b', 'gemini-flash', 'm"q\\x'),
  route: fc.constantFrom('r1', 'r2'),
  error_type: fc.option(fc.constantFrom('timeout', 'upstream_5xx'), { nil: undefined }),
  value: fc.oneof(fc.constantFrom(0, 0.001, 0.01, 1, 10, 11), fc.double({ min: 0, max: 20, noNaN: true })),
  /** Observed through a series the caller holds (found once) rather than by its labels. */
  held: fc.boolean(),
});

describe('keyed metrics', () => {
  it('expose the same samples as prom-client’s Counter, Gauge and Histogram for the same updates', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(update, { maxLength: 60 }), async (updates) => {
        const ref = new Registry();
        const fast = new Registry();
        const refH = new Histogram<L>({ name: 'x_seconds', help: 'h', labelNames: [...LABELS], buckets: BUCKETS, registers: [ref] });
        const refC = new Counter<L>({ name: 'x_total', help: 'c', labelNames: [...LABELS], registers: [ref] });
        const h = new KeyedHistogram<L>(fast, { name: 'x_seconds', help: 'h', labelNames: LABELS, buckets: BUCKETS });
        const c = new KeyedCounter<L>(fast, { name: 'x_total', help: 'c', labelNames: LABELS });
        const refG = new Gauge<L>({ name: 'x_remaining', help: 'g', labelNames: [...LABELS], registers: [ref] });
        const g = new KeyedGauge<L>(fast, { name: 'x_remaining', help: 'g', labelNames: LABELS });
        for (const u of updates) {
          const labels: Partial<Record<L, string>> = { model: u.model, route: u.route, ...(u.error_type === undefined ? {} : { error_type: u.error_type }) };
          refH.observe(labels, u.value);
          if (u.held) h.seriesOf(labels).observe(u.value);
          else h.observe(labels, u.value);
          refC.inc(labels, u.value);
          c.inc(labels, u.value);
          refG.set(labels, u.value);
          g.set(labels, u.value);
        }
        const [a, b] = await Promise.all([ref.metrics(), fast.metrics()]);
        expect(samples(b)).toEqual(samples(a));
      }),
      { numRuns: 50 },
    );
  });

  it('export a held histogram series only once observed, and keep it the metric’s across a reset', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(update, { maxLength: 40 }), fc.array(update, { maxLength: 40 }), async (before, after) => {
        const ref = new Registry();
        const fast = new Registry();
        const refH = new Histogram<L>({ name: 'z_seconds', help: 'h', labelNames: [...LABELS], buckets: BUCKETS, registers: [ref] });
        const h = new KeyedHistogram<L>(fast, { name: 'z_seconds', help: 'h', labelNames: LABELS, buckets: BUCKETS });
        const held = new Map<string, ReturnType<typeof h.seriesOf>>();
        const heldFor = (labels: Partial<Record<L, string>>) => {
          const k = JSON.stringify(labels);
          let s = held.get(k);
          if (s === undefined) held.set(k, (s = h.seriesOf(labels)));
          return s;
        };
        // Held from the start, some never observed: none of those may show.
        for (const m of ['gpt-oss-120b', 'gemini-flash', 'never-used']) heldFor({ model: m, route: 'r1' });
        const apply = (us: typeof before): void => {
          for (const u of us) {
            const labels: Partial<Record<L, string>> = { model: u.model, route: u.route, ...(u.error_type === undefined ? {} : { error_type: u.error_type }) };
            refH.observe(labels, u.value);
            if (u.held) heldFor(labels).observe(u.value);
            else h.observe(labels, u.value);
          }
        };
        apply(before);
        expect(samples(await fast.metrics())).toEqual(samples(await ref.metrics()));
        ref.resetMetrics();
        fast.resetMetrics();
        apply(after);
        expect(samples(await fast.metrics())).toEqual(samples(await ref.metrics()));
      }),
      { numRuns: 50 },
    );
  });

  it('export a held counter or gauge series only once updated, and keep it the metric’s across a reset', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(update, { maxLength: 40 }), fc.array(update, { maxLength: 40 }), async (before, after) => {
        const ref = new Registry();
        const fast = new Registry();
        const refC = new Counter<L>({ name: 'z_total', help: 'c', labelNames: [...LABELS], registers: [ref] });
        const refG = new Gauge<L>({ name: 'z_remaining', help: 'g', labelNames: [...LABELS], registers: [ref] });
        const c = new KeyedCounter<L>(fast, { name: 'z_total', help: 'c', labelNames: LABELS });
        const g = new KeyedGauge<L>(fast, { name: 'z_remaining', help: 'g', labelNames: LABELS });
        const heldC = new Map<string, ReturnType<typeof c.seriesOf>>();
        const heldG = new Map<string, ReturnType<typeof g.seriesOf>>();
        const held = <S>(m: Map<string, S>, find: (labels: Partial<Record<L, string>>) => S, labels: Partial<Record<L, string>>): S => {
          const k = JSON.stringify(labels);
          let s = m.get(k);
          if (s === undefined) m.set(k, (s = find(labels)));
          return s;
        };
        // Held from the start, some never updated: none of those may show.
        for (const m of ['gpt-oss-120b', 'gemini-flash', 'never-used']) {
          held(heldC, (l) => c.seriesOf(l), { model: m, route: 'r1' });
          held(heldG, (l) => g.seriesOf(l), { model: m, route: 'r1' });
        }
        const apply = (us: typeof before): void => {
          for (const u of us) {
            const labels: Partial<Record<L, string>> = { model: u.model, route: u.route, ...(u.error_type === undefined ? {} : { error_type: u.error_type }) };
            refC.inc(labels, u.value);
            refG.set(labels, u.value);
            if (u.held) {
              held(heldC, (l) => c.seriesOf(l), labels).inc(u.value);
              held(heldG, (l) => g.seriesOf(l), labels).set(u.value);
            } else {
              c.inc(labels, u.value);
              g.set(labels, u.value);
            }
          }
        };
        apply(before);
        expect(samples(await fast.metrics())).toEqual(samples(await ref.metrics()));
        ref.resetMetrics();
        fast.resetMetrics();
        apply(after);
        expect(samples(await fast.metrics())).toEqual(samples(await ref.metrics()));
      }),
      { numRuns: 50 },
    );
  });

  it('reject what prom-client rejects: NaN observations and counters going down', () => {
    const h = new KeyedHistogram<L>(new Registry(), { name: 'y_seconds', help: 'h', labelNames: LABELS, buckets: BUCKETS });
    const c = new KeyedCounter<L>(new Registry(), { name: 'y_total', help: 'c', labelNames: LABELS });
    expect(() => h.observe({ model: 'm' }, Number.NaN)).toThrow(/finite/);
    expect(() => h.seriesOf({ model: 'm' }).observe(Number.POSITIVE_INFINITY)).toThrow(/finite/);
    expect(() => c.inc({ model: 'm' }, -1)).toThrow(/only goes up/);
    expect(() => c.seriesOf({ model: 'm' }).inc(Number.NaN)).toThrow(/only goes up/);
  });
});
