// The embedded state store: files under `--state-dir`, for one gateway instance whose primary and
// worker processes all open the same directory.
//
//   records/<kind>/<id>.json   one record each, replaced atomically (temp file, fsync, rename, fsync)
//   records.lock               held across processes while one record write compares and sets
//   changes.log                one line per record write, tailed by subscribers in every process
//   spend/                     per-process spend journals and their compacted totals (file-spend.ts)
//
// Names in the directory encode kinds and ids so that any string is a safe, distinct file name
// on case-insensitive file systems too: a-z, 0-9, _ and - stay, an upper-case letter becomes ^
// and the letter, anything else %XX per UTF-8 byte.
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, unlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { silentLogger, type Logger } from '../core/log.js';
import { checkJson, checkName, checkVersion, notify, StateStoreError } from './errors.js';
import { ChangeLog, type ChangeTail } from './file-changes.js';
import { fsError, isTemp, removeStaleTemps, syncDir, writeAtomic } from './file-io.js';
import { FileLock } from './file-lock.js';
import { FileSpend } from './file-spend.js';
import type { Change, PutResult, SpendEntry, StateStore, StoredDoc } from './store.js';

export interface FileStoreOptions {
  readonly dir: string;
  readonly logger?: Logger;
  /** A process starts a new spend journal, and compacts, when its journal reaches this size (default 8 MiB). */
  readonly journalBytes?: number;
}

const MAX_FILE_NAME = 240;

function encodeName(what: string, s: string): string {
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) {
    if ((b >= 0x61 && b <= 0x7a) || (b >= 0x30 && b <= 0x39) || b === 0x5f || b === 0x2d) out += String.fromCharCode(b);
    else if (b >= 0x41 && b <= 0x5a) out += `^${String.fromCharCode(b + 32)}`;
    else out += `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  if (out.length > MAX_FILE_NAME) throw new StateStoreError(`record ${what} "${s.slice(0, 40)}…" is too long to be a file name once encoded (${out.length} > ${MAX_FILE_NAME} characters)`, 'use shorter ids (plain lower-case ASCII encodes one to one)');
  return out;
}

export class FileStateStore implements StateStore {
  readonly name = 'file' as const;
  private readonly records: string;
  private readonly lock: FileLock;
  private readonly changes: ChangeLog;
  private readonly listeners = new Set<(c: Change) => void>();
  private readonly resyncListeners = new Set<() => void>();
  private tail: ChangeTail | undefined;
  private lockWasBroken = false;
  private closed = false;

  private constructor(
    readonly dir: string,
    private readonly spendStore: FileSpend,
    logger: Logger,
  ) {
    this.records = join(dir, 'records');
    this.changes = new ChangeLog(dir, logger);
    this.lock = new FileLock(join(dir, 'records.lock'), {
      onBroken: (holder) => {
        this.lockWasBroken = true;
        logger.warn('took over the state lock of a process that died holding it', { dir, holder });
      },
    });
  }

  /** Creates the directory if needed and checks that it is writable; rejects with the fix if not. */
  static async open(opts: FileStoreOptions): Promise<FileStateStore> {
    const dir = resolve(opts.dir);
    const logger = opts.logger ?? silentLogger;
    let spend: FileSpend;
    try {
      await mkdir(join(dir, 'records'), { recursive: true, mode: 0o750 });
      const probe = join(dir, `.probe-${process.pid}-${randomBytes(4).toString('hex')}`);
      await writeAtomic(probe, 'ok\n');
      await unlink(probe);
      spend = await FileSpend.open(dir, logger, opts.journalBytes);
      for (const k of await readdir(join(dir, 'records'))) await removeStaleTemps(join(dir, 'records', k));
    } catch (err) {
      throw fsError('cannot use the state directory', dir, err);
    }
    return new FileStateStore(dir, spend, logger);
  }

  async list(kind: string): Promise<StoredDoc[]> {
    checkName('kind', kind);
    const kindDir = join(this.records, encodeName('kind', kind));
    let names: string[];
    try {
      names = (await readdir(kindDir)).filter((n) => n.endsWith('.json') && !isTemp(n));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw fsError('cannot list state records', kindDir, err);
    }
    const out: StoredDoc[] = [];
    // In slices, so that thousands of records do not hold thousands of descriptors at once.
    for (let i = 0; i < names.length; i += 64) {
      const docs = await Promise.all(names.slice(i, i + 64).map((n) => this.readRecord(join(kindDir, n))));
      for (const d of docs) if (d !== undefined) out.push(d);
    }
    return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  async get(kind: string, id: string): Promise<StoredDoc | undefined> {
    return this.readRecord(this.pathOf(kind, id));
  }

  async put(kind: string, id: string, doc: unknown, ifVersion: number): Promise<PutResult> {
    const path = this.pathOf(kind, id);
    checkVersion(ifVersion);
    checkJson(doc);
    if (this.closed) throw new StateStoreError('the state store is closed');
    let result: PutResult;
    try {
      result = await this.lock.with(async (): Promise<PutResult> => {
        if (this.lockWasBroken) {
          // The dead holder may have written a record without announcing it.
          this.lockWasBroken = false;
          await this.changes.append({ resync: true }, true);
        }
        const current = await this.readRecord(path);
        if ((current?.version ?? 0) !== ifVersion) return { ok: false, current };
        const version = ifVersion + 1;
        const kindDir = join(this.records, encodeName('kind', kind));
        if ((await mkdir(kindDir, { recursive: true, mode: 0o750 })) !== undefined) await syncDir(this.records);
        await writeAtomic(path, `${JSON.stringify({ kind, id, version, doc })}\n`);
        await this.changes.append({ k: kind, i: id });
        return { ok: true, version };
      });
    } catch (err) {
      throw fsError('cannot write a state record', path, err);
    }
    if (result.ok) this.tail?.poke();
    return result;
  }

  addSpend(entries: readonly SpendEntry[]): Promise<void> {
    return this.spendStore.add(entries);
  }

  spend(subject: string, window: string): Promise<number> {
    return this.spendStore.total(subject, window);
  }

  spendIn(windows: readonly string[]): Promise<SpendEntry[]> {
    return this.spendStore.totalsIn(windows);
  }

  subscribe(onChange: (change: Change) => void, onResync?: () => void): () => void {
    // Wrapped, so that subscribing the same function twice gives two independent subscriptions.
    const change = (c: Change): void => onChange(c);
    const resync = (): void => onResync?.();
    this.listeners.add(change);
    this.resyncListeners.add(resync);
    try {
      this.tail ??= this.changes.tail(
        (c) => notify(this.listeners, c),
        () => notify(this.resyncListeners),
      );
    } catch (err) {
      this.listeners.delete(change);
      this.resyncListeners.delete(resync);
      throw fsError('cannot watch the state directory for changes', this.changes.path, err);
    }
    return () => {
      this.listeners.delete(change);
      this.resyncListeners.delete(resync);
      if (this.listeners.size === 0 && this.tail !== undefined) {
        void this.tail.stop();
        this.tail = undefined;
      }
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.listeners.clear();
    this.resyncListeners.clear();
    await this.tail?.stop();
    this.tail = undefined;
    await this.spendStore.close();
  }

  private pathOf(kind: string, id: string): string {
    checkName('kind', kind);
    checkName('id', id);
    return join(this.records, encodeName('kind', kind), `${encodeName('id', id)}.json`);
  }

  private async readRecord(path: string): Promise<StoredDoc | undefined> {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw fsError('cannot read a state record', path, err);
    }
    try {
      const r = JSON.parse(text) as { id: string; version: number; doc: unknown };
      return { id: r.id, version: r.version, doc: r.doc };
    } catch (err) {
      // Records are replaced by rename, so a half-written one means damage outside the gateway.
      throw new StateStoreError(`the state record ${path} is not valid JSON`, 'restore it from a backup, or delete it to drop that record', { cause: err });
    }
  }
}
