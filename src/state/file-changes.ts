// Change notices between the processes sharing a state directory: every record write appends one
// line `{"k":kind,"i":id}` to `changes.log` (under the write lock, so lines never interleave and
// rotation cannot race a writer). Subscribers keep the file open and read what was appended: woken
// by fs.watch, and by a poll (two stat calls every 500 ms, cheap when idle) where the file system
// does not deliver watch events (network and overlay mounts).
//
// The log is a notice, not the data: it is not fsync'd, and it rotates to `changes.log.1` at 1 MiB.
// A subscriber that finds it skipped a whole rotation, or a line `{"resync":true}` (written when a
// writer died holding the lock, between its record and its notice), tells its listeners to reload.
import { closeSync, fstatSync, openSync, watch, type FSWatcher } from 'node:fs';
import { appendFile, open, rename, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import type { Logger } from '../core/log.js';
import { notify } from './errors.js';
import type { Change } from './store.js';

const ROTATE_BYTES = 1024 * 1024;
const POLL_MS = 500;

export class ChangeLog {
  readonly path: string;
  private readonly rotated: string;

  constructor(
    readonly dir: string,
    private readonly logger: Logger,
  ) {
    this.path = join(dir, 'changes.log');
    this.rotated = join(dir, 'changes.log.1');
  }

  /** Call only while holding the state directory's write lock. */
  async append(line: Record<string, unknown>, afterCrash = false): Promise<void> {
    // After a crash the last line may be torn: a leading newline keeps this one whole.
    await appendFile(this.path, `${afterCrash ? '\n' : ''}${JSON.stringify(line)}\n`, { mode: 0o640 });
    const st = await stat(this.path);
    if (st.size >= ROTATE_BYTES) await rename(this.path, this.rotated);
  }

  tail(onChange: (c: Change) => void, onResync: () => void): ChangeTail {
    return new ChangeTail(this.path, this.rotated, this.dir, onChange, onResync, this.logger);
  }
}

export class ChangeTail {
  private fh: FileHandle | undefined;
  private ino = 0;
  private offset = 0;
  private partial = '';
  private decoder = new StringDecoder('utf8');
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  private readonly ready: Promise<void>;

  constructor(
    private readonly path: string,
    private readonly rotated: string,
    dir: string,
    private readonly onChange: (c: Change) => void,
    private readonly onResync: () => void,
    private readonly logger: Logger,
  ) {
    // Where "from now on" starts is fixed before subscribe returns, so a write right after it counts.
    const fd = openSync(path, 'a+', 0o640);
    let start: { ino: number; size: number };
    try {
      start = fstatSync(fd);
    } finally {
      closeSync(fd);
    }
    this.ready = this.openCurrent(start);
    try {
      this.watcher = watch(dir, { persistent: false }, (_event, name) => {
        if (name === null || String(name).startsWith('changes.log')) this.poke();
      });
      this.watcher.on('error', () => this.closeWatcher());
    } catch {
      // inotify limits reached, or a file system without watch support: the poll covers it.
    }
    this.timer = setInterval(() => this.poke(), POLL_MS);
    this.timer.unref();
  }

  /** Reads whatever was appended since the last read (coalesced: at most one read in flight). */
  poke(): void {
    if (this.stopped) return;
    if (this.running !== undefined) {
      this.again = true;
      return;
    }
    this.running = this.ready
      .then(() => this.readNew())
      .catch((err: unknown) => this.logger.warn('reading state change notices failed; retrying', { err }))
      .finally(() => {
        this.running = undefined;
        if (this.again) {
          this.again = false;
          this.poke();
        }
      });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.closeWatcher();
    if (this.timer !== undefined) clearInterval(this.timer);
    await this.running;
    await this.fh?.close().catch(() => undefined);
    this.fh = undefined;
  }

  private closeWatcher(): void {
    this.watcher?.close();
    this.watcher = undefined;
  }

  private async openCurrent(from?: { ino: number; size: number }): Promise<void> {
    // 'a+' creates the log if no write happened yet, without truncating one that a writer just made.
    const fh = await open(this.path, 'a+', 0o640);
    const st = await fh.stat();
    this.fh = fh;
    this.ino = st.ino;
    this.offset = from?.ino === st.ino ? from.size : 0;
    if (from !== undefined && from.ino !== st.ino) notify([this.onResync]);
    this.partial = '';
    this.decoder = new StringDecoder('utf8');
  }

  private async readNew(): Promise<void> {
    await this.drain();
    let st;
    try {
      st = await stat(this.path);
    } catch {
      return; // between a rotation's rename and the next append there is no current file
    }
    if (st.ino === this.ino) return;
    // Rotated: everything in the old file was written before the rename, so it is drained above.
    const drainedIno = this.ino;
    const prevRotated = await stat(this.rotated).catch(() => undefined);
    await this.fh?.close().catch(() => undefined);
    await this.openCurrent();
    if (prevRotated?.ino !== drainedIno) notify([this.onResync]);
    await this.drain();
  }

  private async drain(): Promise<void> {
    const fh = this.fh;
    if (fh === undefined) return;
    const buf = Buffer.allocUnsafe(64 * 1024);
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, this.offset);
      if (bytesRead === 0) return;
      this.offset += bytesRead;
      const text = this.partial + this.decoder.write(buf.subarray(0, bytesRead));
      const lines = text.split('\n');
      this.partial = lines.pop() ?? '';
      for (const line of lines) this.deliver(line);
    }
  }

  private deliver(line: string): void {
    if (line === '') return;
    let v: { k?: unknown; i?: unknown; resync?: unknown };
    try {
      v = JSON.parse(line) as typeof v;
    } catch {
      return; // torn by a writer's crash: the resync line written when its lock is broken covers it
    }
    if (v.resync === true) notify([this.onResync]);
    else if (typeof v.k === 'string' && typeof v.i === 'string') notify([this.onChange], { kind: v.k, id: v.i });
  }
}
