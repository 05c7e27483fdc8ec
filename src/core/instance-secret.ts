// Secrets an instance makes up for itself when none is configured (the MCP session key, the key of
// the digests that detect key changes). They must be stable for the instance's life (a hot reload
// must not change them) and the same in every process of it (each worker compiles the same config
// to the same fingerprint and accepts sessions another worker sealed), and they are never written
// anywhere: a primary hands its seed to the workers it forks through their environment.
import { createHmac, randomBytes } from 'node:crypto';

const SEED_ENV = 'TOLLGATE_INSTANCE_SEED';
let seed: Buffer | undefined;

function instanceSeed(): Buffer {
  if (seed === undefined) {
    const inherited = process.env[SEED_ENV];
    seed = inherited !== undefined && inherited !== '' ? Buffer.from(inherited, 'base64url') : randomBytes(32);
  }
  return seed;
}

/** A 256-bit secret for `purpose`, the same in every process of this instance. */
export function instanceSecret(purpose: string): Buffer {
  return createHmac('sha256', instanceSeed()).update(purpose).digest();
}

/** Called by a primary before it forks workers: they inherit its seed. */
export function shareInstanceSeed(): void {
  process.env[SEED_ENV] = instanceSeed().toString('base64url');
}
