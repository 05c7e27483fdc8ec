// Request ids: unique across processes and restarts, cheap on the hot path.
// A random per-process prefix plus a counter costs one string concat per request instead of a
// crypto call, and still sorts by arrival within a process.
import { randomBytes } from 'node:crypto';

const prefix = randomBytes(6).toString('hex');
let counter = 0;

export function newRequestId(): string {
  counter = (counter + 1) % Number.MAX_SAFE_INTEGER;
  return `${prefix}-${counter.toString(36)}`;
}

/** A client-supplied request id is kept only if it is short and printable (it lands in logs). */
export function acceptableRequestId(value: string | undefined): value is string {
  return value !== undefined && value.length > 0 && value.length <= 128 && /^[\x21-\x7e]+$/.test(value);
}
