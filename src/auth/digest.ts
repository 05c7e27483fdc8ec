// Client API keys are held only as keyed digests: HMAC-SHA256 under a key the instance draws at
// start (shared by its workers, so their config fingerprints agree). A lookup by digest takes the
// same time however much of a guessed key is right, and a digest that leaks (a heap dump, a
// debugger) cannot be checked against guesses outside this instance.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { instanceSecret } from '../core/instance-secret.js';

let digestKey: Buffer | undefined;
const hmacKey = (): Buffer => (digestKey ??= instanceSecret('tollgate-key-digest'));

/** The digest a client key is stored and looked up under (hex). */
export function keyDigest(key: string): string {
  return createHmac('sha256', hmacKey()).update(key, 'utf8').digest('hex');
}

/** A digest over many values (e.g. every key of a policy), for change detection only. */
export function setDigest(parts: readonly string[]): string {
  const h = createHmac('sha256', hmacKey());
  for (const p of [...parts].sort()) h.update(`${p.length}:${p}`);
  return h.digest('hex');
}

/** Equality of two hex digests in constant time (both are fixed-length, so lengths leak nothing). */
export function sameDigest(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  return timingSafeEqual(Buffer.from(a, 'hex'), Buffer.from(b, 'hex'));
}
