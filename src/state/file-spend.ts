// Spend in a state directory: each process appends to its own journal (`spend/journal-<pid>-…`),
// one line per addSpend call holding all its entries, so a call counts all or nothing. Calls that
// arrive while a write is in flight share the next write and fdatasync (group commit); a call
// resolves only after its line is on disk.
//
// Totals are the newest snapshot (`spend/totals-<gen>.json`: totals, how far into each journal it
// has counted, journals it has fully absorbed) plus the journal lines after those offsets. Each
// process caches that sum and reads only what was appended since. A compaction (under its own lock)
// folds the journals into a new snapshot and deletes journals whose writer is gone; readers notice
// a compaction by the snapshot generation changing while they read, and start over.
//
// After a crash a journal may end with a torn line (no newline): it is never counted (its call was
// never acknowledged) and never appended to, since a process always starts a new journal.
import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../core/log.js';
import { checkSpend, StateStoreError } from './errors.js';
import { FileLock, pidAlive } from './file-lock.js';
import { fsError, removeStaleTemps, syncDir, writeAtomic } from './file-io.js';
import type { SpendEntry } from './store.js';

const JOURNAL = /^journal-(\d+)-([0-9a-f]+)-(\d+)\.jsonl$/;
const SNAPSHOT = /^totals-(\d+)\.json$/;
const DEFAULT_ROTATE_BYTES = 8 * 1024 * 1024;

// Journals are told apart from those of an earlier process with the same pid (a restarted
// container's pid 1) by this per-process nonce; the set holds the journals this process still writes.
const PROCESS_NONCE = randomBytes(6).toString('hex');
const liveJournals = new Set<string>();
let journalSeq = 0;

interface View {
  gen: number;
  /** JSON [subject, window] → micros. */
  totals: Map<string, number>;
  offsets: Map<string, number>;
  done: Set<string>;
}

interface Pending {
  readonly buf: Buffer;
  readonly resolve: () => void;
  readonly reject: (err: Error) => void;
}

const emptyView = (gen: number): View => ({ gen, totals: new Map(), offsets: new Map(), done: new Set() });
const keyOf = (subject: string, window: string): string => JSON.stringify([subject, window]);

function maxGen(names: readonly string[]): number {
  let g = 0;
  for (const n of names) {
    const m = SNAPSHOT.exec(n);
    if (m !== null) g = Math.max(g, Number(m[1]));
  }
  return g;
}

export class FileSpend {
  private readonly dir: string;
  private readonly lock: FileLock;
  private journal: { fh: FileHandle; name: string; size: number } | undefined;
  private pending: Pending[] = [];
  private flushing = false;
  private view: View = emptyView(-1);
  private reading: Promise<unknown> = Promise.resolve();
  private readonly warned = new Set<string>();
  private closed = false;
  private compacting: Promise<void> | undefined;

  private constructor(
    stateDir: string,
    private readonly logger: Logger,
    private readonly rotateBytes: number,
  ) {
    this.dir = join(stateDir, 'spend');
    this.lock = new FileLock(join(this.dir, 'compact.lock'));
  }

  static async open(stateDir: string, logger: Logger, rotateBytes = DEFAULT_ROTATE_BYTES): Promise<FileSpend> {
    const s = new FileSpend(stateDir, logger, rotateBytes);
    await mkdir(s.dir, { recursive: true, mode: 0o750 });
    await removeStaleTemps(s.dir);
    await s.compact();
    return s;
  }

  add(entries: readonly SpendEntry[]): Promise<void> {
    if (this.closed) return Promise.reject(new StateStoreError('the state store is closed'));
    try {
      checkSpend(entries);
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new StateStoreError(String(err)));
    }
    if (entries.length === 0) return Promise.resolve();
    const buf = Buffer.from(`${JSON.stringify(entries.map((e) => [e.subject, e.window, e.micros]))}\n`);
    return new Promise((resolve, reject) => {
      this.pending.push({ buf, resolve, reject });
      if (!this.flushing) void this.flushLoop();
    });
  }

  async total(subject: string, window: string): Promise<number> {
    return (await this.read()).get(keyOf(subject, window)) ?? 0;
  }

  async totalsIn(windows: readonly string[]): Promise<SpendEntry[]> {
    const want = new Set(windows);
    const out: SpendEntry[] = [];
    for (const [k, micros] of await this.read()) {
      const [subject, window] = JSON.parse(k) as [string, string];
      if (want.has(window)) out.push({ subject, window, micros });
    }
    return out.sort((a, b) => (a.subject < b.subject ? -1 : a.subject > b.subject ? 1 : a.window < b.window ? -1 : a.window > b.window ? 1 : 0));
  }

  async close(): Promise<void> {
    this.closed = true;
    while (this.flushing) await new Promise((r) => setTimeout(r, 5));
    await this.seal();
    await this.compacting;
  }

  private async flushLoop(): Promise<void> {
    this.flushing = true;
    while (this.pending.length > 0) {
      const batch = this.pending.splice(0);
      try {
        await this.write(Buffer.concat(batch.map((p) => p.buf)));
        for (const p of batch) p.resolve();
      } catch (err) {
        const e =
          err instanceof StateStoreError
            ? err
            : new StateStoreError(`recording spend in ${this.dir} failed: ${(err as Error).message}`, 'check that the disk has space and the directory is writable', { cause: err });
        for (const p of batch) p.reject(e);
      }
    }
    this.flushing = false;
  }

  private async write(buf: Buffer): Promise<void> {
    const j = this.journal ?? (await this.startJournal());
    try {
      let done = 0;
      while (done < buf.length) done += (await j.fh.write(buf, done, buf.length - done)).bytesWritten;
      await j.fh.datasync();
    } catch (err) {
      // A part-written line must not prefix the next one: cut it off and never append here again.
      await j.fh.truncate(j.size).catch(() => undefined);
      await this.seal();
      throw err;
    }
    j.size += buf.length;
    if (j.size >= this.rotateBytes) {
      await this.seal();
      this.compacting ??= this.compact()
        .catch((err: unknown) => this.logger.warn('compacting the spend journals failed; they are still counted', { dir: this.dir, err }))
        .finally(() => (this.compacting = undefined));
    }
  }

  private async startJournal(): Promise<{ fh: FileHandle; name: string; size: number }> {
    const name = `journal-${process.pid}-${PROCESS_NONCE}-${++journalSeq}.jsonl`;
    // Live before it exists, so that a compaction running meanwhile never takes it for a dead one's.
    liveJournals.add(name);
    let fh: FileHandle;
    try {
      fh = await open(join(this.dir, name), 'ax', 0o640);
      await syncDir(this.dir);
    } catch (err) {
      liveJournals.delete(name);
      throw err;
    }
    this.journal = { fh, name, size: 0 };
    return this.journal;
  }

  private async seal(): Promise<void> {
    const j = this.journal;
    this.journal = undefined;
    if (j === undefined) return;
    liveJournals.delete(j.name);
    await j.fh.close().catch(() => undefined);
  }

  private isLive(name: string): boolean {
    const m = JOURNAL.exec(name);
    if (m === null) return false;
    const pid = Number(m[1]);
    if (pid === process.pid && m[2] === PROCESS_NONCE) return liveJournals.has(name);
    if (pid === process.pid) return false;
    return pidAlive(pid);
  }

  /** Serialised: a read that starts after an addSpend resolved sees it. */
  private read(): Promise<Map<string, number>> {
    const p = this.reading.then(() => this.refresh()).catch((err: unknown) => {
      throw fsError('cannot read the spend totals', this.dir, err);
    });
    this.reading = p.catch(() => undefined);
    return p.then(() => this.view.totals);
  }

  private async refresh(): Promise<void> {
    for (let attempt = 0; attempt < 50; attempt++) {
      const names = await readdir(this.dir);
      const gen = maxGen(names);
      if (gen !== this.view.gen) this.view = await this.loadSnapshot(gen);
      if (this.view.gen !== gen) continue;
      const complete = await this.absorb(this.view, names, false);
      if (complete && maxGen(await readdir(this.dir)) === gen) return;
      this.view = emptyView(-1);
    }
    throw new StateStoreError(`the spend totals in ${this.dir} kept changing while being read`, 'retry; if it persists, check that no other program writes that directory');
  }

  /** Adds the journal lines after the view's offsets; false if a journal vanished (a compaction ran). */
  private async absorb(view: View, names: readonly string[], compacting: boolean): Promise<boolean> {
    for (const name of names) {
      if (!JOURNAL.test(name) || view.done.has(name)) continue;
      const from = view.offsets.get(name) ?? 0;
      let rest: Buffer;
      try {
        const fh = await open(join(this.dir, name), 'r');
        try {
          const size = (await fh.stat()).size;
          rest = Buffer.alloc(Math.max(0, size - from));
          let got = 0;
          while (got < rest.length) {
            const { bytesRead } = await fh.read(rest, got, rest.length - got, from + got);
            if (bytesRead === 0) break;
            got += bytesRead;
          }
          rest = rest.subarray(0, got);
        } finally {
          await fh.close();
        }
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
        throw err;
      }
      const end = rest.lastIndexOf(0x0a) + 1;
      for (const line of rest.toString('utf8', 0, end).split('\n')) if (line !== '') this.apply(view, name, line);
      view.offsets.set(name, from + end);
      if (compacting && !this.isLive(name)) {
        if (end < rest.length) this.warnOnce(name, 'skipped a torn last line of a spend journal: its writer died mid-write, before that spend was acknowledged');
        view.done.add(name);
      }
    }
    return true;
  }

  private apply(view: View, name: string, line: string): void {
    let entries: unknown;
    try {
      entries = JSON.parse(line);
    } catch {
      entries = undefined;
    }
    if (!Array.isArray(entries)) return this.warnOnce(name, 'skipped an unreadable line of a spend journal');
    for (const e of entries as unknown[]) {
      if (!Array.isArray(e) || typeof e[0] !== 'string' || typeof e[1] !== 'string' || !Number.isSafeInteger(e[2])) return this.warnOnce(name, 'skipped an unreadable line of a spend journal');
    }
    for (const [subject, window, micros] of entries as Array<[string, string, number]>) {
      const k = keyOf(subject, window);
      view.totals.set(k, (view.totals.get(k) ?? 0) + micros);
    }
  }

  private warnOnce(name: string, msg: string): void {
    if (this.warned.has(name)) return;
    this.warned.add(name);
    this.logger.warn(msg, { file: join(this.dir, name) });
  }

  private async loadSnapshot(gen: number): Promise<View> {
    if (gen === 0) return emptyView(0);
    const path = join(this.dir, `totals-${gen}.json`);
    try {
      const s = JSON.parse(await readFile(path, 'utf8')) as { totals: Array<[string, string, number]>; offsets: Record<string, number>; done: string[] };
      return {
        gen,
        totals: new Map(s.totals.map(([subject, window, micros]) => [keyOf(subject, window), micros])),
        offsets: new Map(Object.entries(s.offsets)),
        done: new Set(s.done),
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return emptyView(-1); // compacted away: start over
      throw new StateStoreError(`cannot read the spend snapshot ${path}: ${(err as Error).message}`, 'it is written atomically, so this is disk damage: restore the state directory from a backup', { cause: err });
    }
  }

  /** Folds every journal into a new snapshot and deletes the journals of writers that are gone. */
  async compact(): Promise<void> {
    await this.lock.with(async () => {
      const names = await readdir(this.dir);
      const gen = maxGen(names);
      const view = await this.loadSnapshot(gen);
      if (view.gen !== gen) throw new StateStoreError(`the spend snapshot of generation ${gen} in ${this.dir} vanished during a compaction`);
      await this.absorb(view, names, true);
      const present = new Set(names);
      for (const d of view.done) {
        if (!present.has(d)) view.done.delete(d);
        view.offsets.delete(d);
      }
      const totals = [...view.totals].map(([k, m]) => [...(JSON.parse(k) as [string, string]), m]);
      await writeAtomic(join(this.dir, `totals-${gen + 1}.json`), JSON.stringify({ totals, offsets: Object.fromEntries(view.offsets), done: [...view.done] }));
      for (const n of names) if (SNAPSHOT.test(n) || view.done.has(n)) await unlink(join(this.dir, n)).catch(() => undefined);
    });
  }
}
