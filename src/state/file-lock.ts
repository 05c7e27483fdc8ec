// A lock between the processes of one instance that share a state directory (the primary and its
// workers): a lock file created with O_EXCL, holding the owner's pid. A holder keeps it for one
// short write, so contention is met by retrying after a few milliseconds.
//
// Stale locks. A holder killed while holding leaves its file behind. A lock is stale when its pid is
// no longer alive, or when it is older than `staleMs` (a reused pid, a holder frozen for that long).
// Breaking is itself serialised by a second O_EXCL file: the breaker re-reads the lock under it and
// removes it only if it is still the stale one, so two breakers can never remove a lock that a live
// process just took. `onBroken` lets the owner of the lock react (a write may have been half done).
import { randomBytes } from 'node:crypto';
import { open, readFile, stat, unlink } from 'node:fs/promises';
import { StateStoreError } from './errors.js';

export interface LockOptions {
  /** A lock older than this is stale even if its pid is alive (default 30 s). */
  readonly staleMs?: number;
  /** Give up after waiting this long (default 30 s). */
  readonly waitMs?: number;
  readonly onBroken?: (holder: string) => void;
}

// Within a process, waiters queue here rather than spin against each other on the file.
const inProcess = new Map<string, Promise<void>>();

export function pidAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function createExclusive(path: string, content: string): Promise<boolean> {
  try {
    const fh = await open(path, 'wx', 0o640);
    try {
      await fh.writeFile(content);
    } finally {
      await fh.close();
    }
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
}

async function readHolder(path: string): Promise<{ content: string; ageMs: number } | undefined> {
  try {
    const [content, st] = await Promise.all([readFile(path, 'utf8'), stat(path)]);
    return { content, ageMs: Date.now() - st.mtimeMs };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

export class FileLock {
  private readonly staleMs: number;
  private readonly waitMs: number;

  constructor(
    readonly path: string,
    private readonly opts: LockOptions = {},
  ) {
    this.staleMs = opts.staleMs ?? 30_000;
    this.waitMs = opts.waitMs ?? 30_000;
  }

  /** Runs `fn` while holding the lock. */
  async with<T>(fn: () => Promise<T>): Promise<T> {
    const before = inProcess.get(this.path) ?? Promise.resolve();
    let done!: () => void;
    const mine = new Promise<void>((r) => (done = r));
    const tail = before.then(() => mine);
    inProcess.set(this.path, tail);
    await before;
    try {
      const token = await this.acquire();
      try {
        return await fn();
      } finally {
        await this.release(token);
      }
    } finally {
      done();
      if (inProcess.get(this.path) === tail) inProcess.delete(this.path);
    }
  }

  private async acquire(): Promise<string> {
    const token = `${process.pid} ${randomBytes(8).toString('hex')} ${new Date().toISOString()}\n`;
    const deadline = Date.now() + this.waitMs;
    for (let attempt = 0; ; attempt++) {
      if (await createExclusive(this.path, token)) return token;
      const holder = await readHolder(this.path);
      if (holder !== undefined && this.isStale(holder)) await this.breakStale(holder.content);
      else if (Date.now() > deadline) {
        throw new StateStoreError(
          `timed out after ${this.waitMs} ms waiting for the lock ${this.path} (held by: ${holder?.content.trim() || 'unknown'})`,
          'another process of this gateway holds it; if none is running, delete the file',
        );
      } else await sleep(Math.min(50, 2 + attempt) * (0.5 + Math.random()));
    }
  }

  private isStale(holder: { content: string; ageMs: number }): boolean {
    if (holder.ageMs > this.staleMs) return true;
    // An empty file: the holder died between creating and writing it. Give a live one a moment.
    if (holder.content === '') return holder.ageMs > 2_000;
    return !pidAlive(Number(holder.content.split(' ')[0]));
  }

  private async breakStale(seen: string): Promise<void> {
    const breakPath = `${this.path}.break`;
    if (!(await createExclusive(breakPath, `${process.pid}\n`))) {
      // A breaker takes milliseconds; one whose file is old died while breaking.
      const other = await readHolder(breakPath);
      if (other !== undefined && other.ageMs > 10_000) await unlink(breakPath).catch(() => undefined);
      return;
    }
    try {
      const now = await readHolder(this.path);
      if (now?.content !== seen) return;
      await unlink(this.path);
      this.opts.onBroken?.(seen.trim());
    } finally {
      await unlink(breakPath).catch(() => undefined);
    }
  }

  private async release(token: string): Promise<void> {
    // Ours unless we were frozen past `staleMs` and someone broke it; then it is theirs now.
    const now = await readHolder(this.path);
    if (now?.content === token) await unlink(this.path);
  }
}
