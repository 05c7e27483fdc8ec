// Messages between the primary and its workers over the cluster IPC channel (JSON). Limit-store
// operations travel in batches: everything a worker's event-loop turn produced goes in one message,
// and the primary answers a batch with one message, so the per-request cost stays one small
// serialisation each way however busy the worker is.
import type { AdmitMode, AdmitResult, Charge, Check, Release } from '../limits/store.js';

/** An admission (answered) or a settlement (not answered). */
export type StoreOp = { readonly id: number; readonly checks: readonly Check[]; readonly mode: AdmitMode } | { readonly charges: readonly Charge[]; readonly releases: readonly Release[] };

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
  | { readonly t: 'reply'; readonly id: number; readonly value: unknown };

export type ToWorker =
  | { readonly t: 'store'; readonly results: ReadonlyArray<readonly [number, AdmitResult]> }
  | { readonly t: 'reload'; readonly generation: number }
  | { readonly t: 'shutdown' }
  | { readonly t: 'ask'; readonly id: number; readonly what: 'metrics' | 'dashboard' };

export function isMessage<T extends { t: string }>(m: unknown): m is T {
  return typeof m === 'object' && m !== null && typeof (m as { t?: unknown }).t === 'string';
}
