// Crash-safe file primitives for the state directory. A file is replaced by writing a temp file
// beside it, fsync'ing it, renaming it over the old one and fsync'ing the directory: after a crash
// the name holds the old content or the new one, never a mix, and an acknowledged write survives
// a power cut.
import { randomBytes } from 'node:crypto';
import { open, readdir, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { StateStoreError } from './errors.js';

const TEMP = /\.tmp$/;

export async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export async function writeAtomic(path: string, content: string): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`);
  try {
    const fh = await open(tmp, 'wx', 0o640);
    try {
      await fh.writeFile(content);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  await syncDir(dirname(path));
}

/** Removes temp files left by writers that died mid-write (old enough that no live writer owns them). */
export async function removeStaleTemps(dir: string, olderThanMs = 60_000): Promise<void> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return;
  }
  const cutoff = Date.now() - olderThanMs;
  for (const n of names) {
    if (!TEMP.test(n)) continue;
    const p = join(dir, n);
    const st = await stat(p).catch(() => undefined);
    if (st !== undefined && st.mtimeMs < cutoff) await unlink(p).catch(() => undefined);
  }
}

export function isTemp(name: string): boolean {
  return TEMP.test(name);
}

/** A file-system failure as an operator reads it: the path, the reason, and what to change. */
export function fsError(what: string, path: string, err: unknown): Error {
  const e = err as NodeJS.ErrnoException;
  const reason = e.code !== undefined && e.message.startsWith(e.code) ? e.message : `${e.code ?? 'error'}: ${e.message}`;
  switch (e.code) {
    case 'EACCES':
    case 'EPERM':
      return new StateStoreError(`${what}: ${path} is not writable by this process (${reason})`, "give the gateway's user write access to the directory (chown/chmod), or choose another one with --state-dir", { cause: err });
    case 'EROFS':
      return new StateStoreError(`${what}: ${path} is on a read-only file system (${reason})`, 'mount a writable volume there, or choose another directory with --state-dir', { cause: err });
    case 'ENOTDIR':
    case 'EEXIST':
      return new StateStoreError(`${what}: ${path} (or a folder above it) is a file, not a directory (${reason})`, 'point --state-dir at a directory (it is created if missing)', { cause: err });
    case 'ENOSPC':
    case 'EDQUOT':
      return new StateStoreError(`${what}: no space left for ${path} (${reason})`, 'free disk space or raise the quota; nothing acknowledged was lost', { cause: err });
    default:
      return err instanceof StateStoreError ? err : new StateStoreError(`${what}: ${path}: ${reason}`, undefined, { cause: err });
  }
}
