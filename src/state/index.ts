// Opens the state store the command line chose: files under `--state-dir` for one instance, or
// PostgreSQL (`--state-db`) when replicas share keys and spend.
import type { Logger } from '../core/log.js';
import { StateStoreError } from './errors.js';
import { FileStateStore } from './file.js';
import type { StateStore } from './store.js';

export { StateStoreError } from './errors.js';
export type { Change, PutResult, SpendEntry, StateStore, StoredDoc } from './store.js';

export interface OpenStateOptions {
  /** `--state-dir`: the embedded store of one instance. */
  readonly dir?: string;
  /** `--state-db`: a postgres:// URL shared by replicas. */
  readonly db?: string;
  readonly logger?: Logger;
}

export async function openStateStore(opts: OpenStateOptions): Promise<StateStore> {
  const { dir, db, logger } = opts;
  if (dir !== undefined && db !== undefined) {
    throw new StateStoreError('both --state-dir and --state-db were given; choose one', '--state-dir for one instance, --state-db postgres://… when replicas share keys and spend');
  }
  if (dir !== undefined) return FileStateStore.open(logger === undefined ? { dir } : { dir, logger });
  if (db !== undefined) {
    const { PostgresStateStore } = await import('./postgres.js');
    return PostgresStateStore.open(logger === undefined ? { url: db } : { url: db, logger });
  }
  throw new StateStoreError('no state store was chosen', 'pass --state-dir DIR (one instance) or --state-db postgres://… (replicas)');
}
