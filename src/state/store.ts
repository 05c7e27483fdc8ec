// The durable state of a running gateway that is data, not manifests: virtual keys, their owners
// (teams, organisations) and the money spent against budgets. One instance keeps it in files under
// `--state-dir`; replicas share PostgreSQL (`--state-db`). Live counters (what admission checks on
// every request) stay in the limit stores (in process or Redis); this store is what they are rebuilt
// from after a restart or a Redis that lost its data, so spend is never reset to zero.

/** One record as stored: its kind-local id, a version that every write increments, and the document. */
export interface StoredDoc {
  readonly id: string;
  /** 1 after the first write; compare-and-set writes name the version they read. */
  readonly version: number;
  /** Plain JSON (objects, arrays, strings, finite numbers, booleans, null). */
  readonly doc: unknown;
}

export type PutResult =
  | { readonly ok: true; readonly version: number }
  /** Someone wrote first: `current` is what is stored now (undefined: nothing is). */
  | { readonly ok: false; readonly current: StoredDoc | undefined };

/** Money spent by one budget subject in one window, in integer micro-units of the rates file's currency. */
export interface SpendEntry {
  /** Who spends: `key:<id>`, `team:<id>`, `org:<id>`, … (opaque to the store). */
  readonly subject: string;
  /** Which period instance: e.g. `30d:2026-12-01T00:00:00Z` or `month:2026-12` (opaque to the store). */
  readonly window: string;
  readonly micros: number;
}

/** A change made by anyone (this process, another worker, another replica). */
export interface Change {
  readonly kind: string;
  readonly id: string;
}

export interface StateStore {
  readonly name: 'file' | 'postgres';
  /** Every record of a kind (`key`, `team`, `org`, …), in id order. */
  list(kind: string): Promise<StoredDoc[]>;
  get(kind: string, id: string): Promise<StoredDoc | undefined>;
  /**
   * Compare-and-set: writes when the stored version equals `ifVersion` (0: the record must not
   * exist yet). Concurrent writers of one record are serialised: exactly one of two writes naming
   * the same version succeeds. Durable (fsync'd / committed) before it resolves.
   */
  put(kind: string, id: string, doc: unknown, ifVersion: number): Promise<PutResult>;
  /** Adds each entry to its (subject, window) total, all or none; durable before it resolves. */
  addSpend(entries: readonly SpendEntry[]): Promise<void>;
  /** The total spent by `subject` in `window` (0 when nothing was). */
  spend(subject: string, window: string): Promise<number>;
  /** Every (subject, window) total whose window is one of `windows` (to rebuild live counters). */
  spendIn(windows: readonly string[]): Promise<SpendEntry[]>;
  /**
   * Calls `onChange` after a record changes, wherever the write happened, within a second of it
   * (the writer's own process included). Returns the unsubscribe function.
   *
   * `onResync` is called when changes may have been missed: reload every record. That is when a
   * lost database connection is back, when a writer died between writing a record and announcing
   * it, and (PostgreSQL) once the subscription is live, since `subscribe` returns before it is.
   */
  subscribe(onChange: (change: Change) => void, onResync?: () => void): () => void;
  close(): Promise<void>;
}
