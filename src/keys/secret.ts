// Key secrets: `tg-<id>.<secret>`. The id part finds the record in a hash map (no scan, no I/O);
// the secret part (32 random bytes) is checked against the record's salted hashes in constant time.
// A fast hash is enough here: the secret is random, not a password, so there is nothing to
// dictionary-attack, and a slow hash would be paid on every request.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { StoredSecret } from './model.js';

export const KEY_PREFIX = 'tg-';
const ID_CHARS = 'abcdefghijkmnpqrstuvwxyz23456789';
const ID_LENGTH = 12;
const SECRET_RE = /^[A-Za-z0-9_-]{43}$/;
const ID_RE = /^[a-z2-9]{12}$/;

export function newKeyId(): string {
  const bytes = randomBytes(ID_LENGTH);
  let id = '';
  for (const b of bytes) id += ID_CHARS[b % ID_CHARS.length] as string;
  return id;
}

export function newSecret(): string {
  return randomBytes(32).toString('base64url');
}

export function formatKey(id: string, secret: string): string {
  return `${KEY_PREFIX}${id}.${secret}`;
}

/** The id and secret of a presented key, or undefined when it is not shaped like one. */
export function parseKey(presented: string): { id: string; secret: string } | undefined {
  if (!presented.startsWith(KEY_PREFIX)) return undefined;
  const dot = presented.indexOf('.', KEY_PREFIX.length);
  if (dot === -1) return undefined;
  const id = presented.slice(KEY_PREFIX.length, dot);
  const secret = presented.slice(dot + 1);
  if (!ID_RE.test(id) || !SECRET_RE.test(secret)) return undefined;
  return { id, secret };
}

export function hashSecret(secret: string, salt: string = randomBytes(16).toString('hex')): StoredSecret {
  return { salt, hash: digest(salt, secret).toString('hex') };
}

export function secretMatches(stored: StoredSecret, secret: string): boolean {
  const want = Buffer.from(stored.hash, 'hex');
  const got = digest(stored.salt, secret);
  return want.length === got.length && timingSafeEqual(want, got);
}

/** Spends the same work as a real check, so an unknown id answers as slowly as a wrong secret. */
export function dummyCheck(secret: string): void {
  digest('0'.repeat(32), secret);
}

function digest(salt: string, secret: string): Buffer {
  return createHash('sha256').update(salt, 'utf8').update('\u0000').update(secret, 'utf8').digest();
}
