// Messages between the primary and its workers over the cluster IPC channel (JSON). Most admissions
// never leave a worker (it spends leases of the buckets' budgets); what does leave travels in
// batches: everything a worker's event-loop turn produced goes in one message, and the primary
// answers a batch with one message.
import type { AdmitMode, AdmitResult, Charge, Check, Release } from '../limits/store.js';
import type { WorkersTelemetry } from '../server/status-page.js';
import type { PickerBatch } from '../upstream/pool/share.js';

/**
 * What a worker did with the leases it holds (see leases.ts): `consumed` admitted or charged by
 * itself since its last report, `returned` given back unused (on a recall, or before it asks the
 * primary to admit against that bucket).
 */
export interface LeaseReport {
  readonly key: string;
  readonly start: number;
  readonly windowMs: number;
  readonly consumed: number;
  readonly returned: number;
}

/** A worker asks for a lease of `amount` (its recent demand) on a fixed-window bucket. */
export interface LeaseWant {
  readonly key: string;
  readonly windowMs: number;
  readonly limit: number;
  readonly amount: number;
}

/** Part of a bucket's window budget a worker may consume by itself until `end`. */
export interface LeaseGrant {
  readonly key: string;
  readonly start: number;
  readonly end: number;
  readonly limit: number;
  readonly amount: number;
  /** What the primary still had unleased after this grant (for the worker's remaining headers). */
  readonly free: number;
}

export type AdmitOp = { readonly id: number; readonly checks: readonly Check[]; readonly mode: AdmitMode };

/**
 * An admission (answered), a settlement, lease reports (with the keys of an answered recall), or
 * lease requests (answered with the grants of the batch).
 */
export type StoreOp =
  | AdmitOp
  | { readonly charges: readonly Charge[]; readonly releases: readonly Release[] }
  | { readonly leases: readonly LeaseReport[]; readonly recalled?: readonly string[] }
  | { readonly want: readonly LeaseWant[] };

export interface WorkerState {
  readonly generation: number | null;
  readonly fingerprint: string | null;
  readonly draining: boolean;
  /** Why this worker's own readiness says no (e.g. Redis not connected yet); null when ready. */
  readonly waiting: string | null;
}

export type ToPrimary =
  | { readonly t: 'store'; readonly ops: readonly StoreOp[] }
  | { readonly t: 'listening'; readonly port: number }
  | ({ readonly t: 'state' } & WorkerState)
  | { readonly t: 'reply'; readonly id: number; readonly value: unknown }
  /** What this worker's endpoint pickers learned since its last batch (at most one an interval). */
  | { readonly t: 'picker'; readonly batch: PickerBatch };

export type ToWorker =
  | { readonly t: 'store'; readonly results: ReadonlyArray<readonly [number, AdmitResult]>; readonly grants?: readonly LeaseGrant[] }
  /** Give back every unused lease on these buckets: an admission waits for them. */
  | { readonly t: 'recall'; readonly keys: readonly string[] }
  | { readonly t: 'reload'; readonly generation: number }
  | { readonly t: 'shutdown' }
  /** `dashboard` comes with every worker's telemetry, which the page shows. */
  | { readonly t: 'ask'; readonly id: number; readonly what: Question; readonly telemetry?: WorkersTelemetry }
  /** The other workers' picker batches since the last relay. */
  | { readonly t: 'picker'; readonly batches: readonly PickerBatch[] };

export type Question = 'metrics' | 'dashboard' | 'telemetry';

export function isMessage<T extends { t: string }>(m: unknown): m is T {
  return typeof m === 'object' && m !== null && typeof (m as { t?: unknown }).t === 'string';
}
