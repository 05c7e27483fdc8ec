// The gauges and totals read at scrape time from the gateway's parts (upstream pools, the
// accountant, the ledger, database sinks), not updated per request.
import { Counter, Gauge, type Registry } from 'prom-client';
import type { AccountingStats } from '../accounting/accountant.js';
import type { LedgerStats } from '../accounting/ledger/writer.js';

export interface PoolStat {
  readonly backend: string;
  readonly endpoint: string;
  readonly connected: number;
  readonly free: number;
  readonly pending: number;
  readonly queued: number;
  readonly running: number;
}

export interface MetricSources {
  pools?: () => Iterable<PoolStat>;
  accounting?: () => AccountingStats;
  ledger?: () => LedgerStats | undefined;
  sinks?: () => Iterable<{ readonly name: string; readonly pending: number; readonly written: number; readonly failed: number; readonly dropped: number }>;
}

export function defineCollectedMetrics(registry: Registry, src: () => MetricSources): void {
  const registers = [registry];
  new Gauge({
    name: 'tollgate_upstream_pool_connections',
    help: 'Upstream connections per endpoint, by state (connected, free).',
    labelNames: ['backend', 'endpoint', 'state'],
    registers,
    collect() {
      this.reset();
      for (const p of src().pools?.() ?? []) {
        this.set({ backend: p.backend, endpoint: p.endpoint, state: 'connected' }, p.connected);
        this.set({ backend: p.backend, endpoint: p.endpoint, state: 'free' }, p.free);
      }
    },
  });
  new Gauge({
    name: 'tollgate_upstream_pool_requests',
    help: 'Upstream requests per endpoint, by state (running: sent and not finished; pending: waiting for a connection; queued: both).',
    labelNames: ['backend', 'endpoint', 'state'],
    registers,
    collect() {
      this.reset();
      for (const p of src().pools?.() ?? []) {
        this.set({ backend: p.backend, endpoint: p.endpoint, state: 'running' }, p.running);
        this.set({ backend: p.backend, endpoint: p.endpoint, state: 'pending' }, p.pending);
        this.set({ backend: p.backend, endpoint: p.endpoint, state: 'queued' }, p.queued);
      }
    },
  });
  const acct = (f: (s: AccountingStats) => number) =>
    function (this: Gauge): void {
      const s = src().accounting?.();
      if (s !== undefined) this.set(f(s));
    };
  new Gauge({ name: 'tollgate_token_counts_in_flight', help: "Requests whose gateway token count is running.", registers, collect: acct((s) => s.counting) });
  new Gauge({ name: 'tollgate_token_count_backlog_characters', help: 'Characters waiting for the gateway tokenizer.', registers, collect: acct((s) => s.backlogChars) });
  // Totals kept by the accountant and the ledger, exposed as counters at scrape time.
  const total = (name: string, help: string, read: () => number | undefined): void => {
    new Counter({
      name,
      help,
      registers,
      collect() {
        const v = read();
        if (v === undefined) return;
        this.reset();
        this.inc(v);
      },
    });
  };
  total('tollgate_token_counts_skipped_total', 'Requests not counted by the gateway because the tokenizer backlog was full (billed from the backend or an estimate).', () => src().accounting?.().skipped);
  total('tollgate_token_audit_unsampled_total', 'Requests with backend-reported usage the drift audit did not sample (--audit-sample-rate).', () => src().accounting?.().unsampled);
  total('tollgate_token_counts_failed_total', 'Gateway token counts that failed (billed from the backend or an estimate).', () => src().accounting?.().failed);
  total('tollgate_ledger_lines_total', 'Lines written to the usage ledger.', () => src().ledger?.()?.records);
  total('tollgate_ledger_write_errors_total', 'Failed ledger writes (the lines are kept in memory and retried).', () => src().ledger?.()?.writeErrors);
  total('tollgate_ledger_dropped_lines_total', 'Ledger lines dropped because the in-memory backlog was full.', () => src().ledger?.()?.dropped);
  total('tollgate_ledger_syncs_total', 'fdatasync calls on the usage ledger.', () => src().ledger?.()?.syncs);
  const ledger = (f: (s: LedgerStats) => number) =>
    function (this: Gauge): void {
      const s = src().ledger?.();
      if (s !== undefined) this.set(f(s));
    };
  new Gauge({ name: 'tollgate_ledger_backlog_lines', help: 'Ledger lines waiting for the disk to accept them.', registers, collect: ledger((s) => s.backlog) });
  new Gauge({
    name: 'tollgate_usage_sink_records',
    help: 'Usage records per database sink, by state (pending, written, failed attempts, dropped).',
    labelNames: ['sink', 'state'],
    registers,
    collect() {
      this.reset();
      for (const s of src().sinks?.() ?? []) {
        this.set({ sink: s.name, state: 'pending' }, s.pending);
        this.set({ sink: s.name, state: 'written' }, s.written);
        this.set({ sink: s.name, state: 'failed' }, s.failed);
        this.set({ sink: s.name, state: 'dropped' }, s.dropped);
      }
    },
  });
}
