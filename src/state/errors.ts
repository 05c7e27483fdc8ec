// What the state stores throw, and the input checks both stores share so they refuse the same things
// with the same words.

/** A state store failure the operator can act on: the message names what failed, `hint` the fix. */
export class StateStoreError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'StateStoreError';
  }
}

/** Kinds and ids end up in file names and notification payloads: keep them short. */
const MAX_NAME = 200;

export function checkName(what: 'kind' | 'id', value: string): void {
  if (typeof value !== 'string' || value.length === 0) throw new StateStoreError(`a record ${what} must be a non-empty string`);
  if (value.length > MAX_NAME) throw new StateStoreError(`record ${what} "${value.slice(0, 40)}…" is ${value.length} characters long; at most ${MAX_NAME} are allowed`);
}

export function checkVersion(ifVersion: number): void {
  if (!Number.isSafeInteger(ifVersion) || ifVersion < 0) {
    throw new StateStoreError(`ifVersion must be a non-negative integer (0: the record must not exist yet), not ${String(ifVersion)}`);
  }
}

/** Refuses what JSON cannot carry faithfully (undefined, NaN, Infinity, functions, class instances). */
export function checkJson(value: unknown, path = 'doc'): void {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return;
    case 'number':
      if (!Number.isFinite(value)) throw new StateStoreError(`${path} is ${String(value)}; only finite numbers can be stored`);
      return;
    case 'object': {
      if (value === null) return;
      if (Array.isArray(value)) {
        value.forEach((v, i) => checkJson(v, `${path}[${i}]`));
        return;
      }
      const proto = Object.getPrototypeOf(value) as unknown;
      if (proto !== Object.prototype && proto !== null) throw new StateStoreError(`${path} is not a plain object; store plain JSON (convert dates to strings)`);
      for (const [k, v] of Object.entries(value)) checkJson(v, `${path}.${k}`);
      return;
    }
    default:
      throw new StateStoreError(`${path} is ${typeof value}; only plain JSON can be stored`);
  }
}

export interface CheckedSpend {
  readonly subject: string;
  readonly window: string;
  readonly micros: number;
}

export function checkSpend(entries: readonly CheckedSpend[]): void {
  for (const e of entries) {
    if (typeof e.subject !== 'string' || e.subject.length === 0 || e.subject.length > MAX_NAME) throw new StateStoreError(`a spend subject must be a string of 1 to ${MAX_NAME} characters`);
    if (typeof e.window !== 'string' || e.window.length === 0 || e.window.length > MAX_NAME) throw new StateStoreError(`a spend window must be a string of 1 to ${MAX_NAME} characters`);
    if (!Number.isSafeInteger(e.micros)) throw new StateStoreError(`spend for ${e.subject} in ${e.window} is ${String(e.micros)}; it must be an integer number of micro-units`);
  }
}

/** One listener's failure must not stop the others or the watcher that feeds them. */
export function notify<T extends unknown[]>(listeners: Iterable<(...args: T) => void>, ...args: T): void {
  for (const l of listeners) {
    try {
      l(...args);
    } catch {
      // the subscriber's own bug; the store keeps delivering to the rest
    }
  }
}
