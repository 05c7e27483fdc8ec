// Finding the manifest files behind --config paths, and reading them through a cache keyed by
// (path, size, mtime, ctime, inode) so a reload of a 20,000-route config re-parses only what changed.
// Kubernetes volume layout: a mounted ConfigMap/Secret directory holds `..data -> ..2024_…/` and
// `file.yaml -> ..data/file.yaml`; names starting with "." are skipped, the visible symlinks are
// followed, and a `..data` swap shows up as a new inode behind the same path.
import { readdirSync, readFileSync, realpathSync, statSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import type { Diagnostics } from './diagnostics.js';
import { parseFile, type ParsedFile } from './parse.js';

const MANIFEST_EXT = /\.(ya?ml|json)$/i;

export interface FoundFile {
  readonly path: string;
  /** Found by walking a directory (vs named on the command line). */
  readonly fromDir: boolean;
  /** Identity of the content behind the path (follows symlinks): size, times, inode. */
  readonly statKey: string;
}

export interface Discovery {
  readonly files: FoundFile[];
  /** Every directory walked, for the watcher. */
  readonly dirs: string[];
}

function errCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

// Stats are synchronous (a fraction of the CPU of promise-based stats, which matters when the
// poll re-stats 20,000 files) but done in slices, yielding to the event loop between slices so a
// gateway serving traffic is never blocked for more than a few milliseconds.
const STATS_PER_SLICE = 256;
const yieldToLoop = (): Promise<void> => new Promise((r) => setImmediate(r));

export async function discover(paths: readonly string[], diags: Diagnostics): Promise<Discovery> {
  const files: FoundFile[] = [];
  const dirs: string[] = [];
  const seenFiles = new Set<string>();
  const seenDirs = new Set<string>();
  let budget = STATS_PER_SLICE;
  const stat = async (p: string): Promise<Stats | undefined> => {
    if (--budget <= 0) {
      budget = STATS_PER_SLICE;
      await yieldToLoop();
    }
    try {
      return statSync(p); // follows symlinks
    } catch {
      return undefined;
    }
  };

  const walk = async (dir: string): Promise<void> => {
    let real: string;
    try {
      real = realpathSync(dir);
    } catch {
      return;
    }
    if (seenDirs.has(real)) return; // a symlink loop, or the same directory named twice
    seenDirs.add(real);
    dirs.push(dir);
    let entries: string[];
    try {
      entries = readdirSync(dir).sort();
    } catch (err) {
      diags.error({ file: dir, message: `cannot read directory: ${errCode(err) ?? String(err)}` });
      return;
    }
    for (const name of entries) {
      if (name.startsWith('.')) continue;
      const full = join(dir, name);
      const st = await stat(full);
      if (st === undefined) continue; // a dangling symlink, or deleted meanwhile
      if (st.isDirectory()) await walk(full);
      else if (st.isFile() && MANIFEST_EXT.test(name) && !seenFiles.has(full)) {
        seenFiles.add(full);
        files.push({ path: full, fromDir: true, statKey: statKey(st) });
      }
    }
  };

  for (const p of paths) {
    let st: Stats;
    try {
      st = statSync(p);
    } catch (err) {
      const code = errCode(err);
      diags.error({
        file: p,
        message: code === 'ENOENT' ? 'no such file or directory' : `cannot read: ${code ?? String(err)}`,
        hint: 'check the --config path',
      });
      continue;
    }
    if (st.isDirectory()) {
      const before = files.length;
      await walk(p);
      if (files.length === before) {
        diags.warn({ file: p, message: 'no manifest files (*.yaml, *.yml, *.json) in this directory', hint: 'the config has no routes until some are added' });
      }
    } else if (!seenFiles.has(p)) {
      seenFiles.add(p);
      files.push({ path: p, fromDir: false, statKey: statKey(st) });
    }
  }
  return { files, dirs };
}

interface CacheEntry {
  readonly key: string;
  readonly parsed: ParsedFile;
  lastSeen: number;
}

// Loads of different configs may share a cache (a watcher and loadConfig): entries not seen for this
// many loads are dropped, so a removed file's parse does not live forever.
const KEEP_UNSEEN_LOADS = 8;

export function statKey(st: Stats): string {
  return `${st.size}:${st.mtimeMs}:${st.ctimeMs}:${st.ino}:${st.dev}`;
}

/** Parsed files by path; entries for files that are no longer part of the config are dropped. */
export class ParseCache {
  readonly #entries = new Map<string, CacheEntry>();
  #loads = 0;
  hits = 0;
  misses = 0;

  async load(found: readonly FoundFile[], diags: Diagnostics): Promise<ParsedFile[]> {
    const load = ++this.#loads;
    const out: ParsedFile[] = [];
    // Reads are synchronous (cheap for small files) and parsing is CPU-bound anyway; yield between
    // slices so a serving gateway keeps answering requests during a large (re)load.
    let sliceStart = performance.now();
    for (const f of found) {
      const r = this.#loadOne(f, diags);
      if (r !== undefined) {
        r.lastSeen = load;
        this.#entries.set(f.path, r);
        out.push(r.parsed);
      }
      if (performance.now() - sliceStart > 10) {
        await yieldToLoop();
        sliceStart = performance.now();
      }
    }
    for (const [path, e] of this.#entries) if (e.lastSeen < load - KEEP_UNSEEN_LOADS) this.#entries.delete(path);
    return out;
  }

  #loadOne(f: FoundFile, diags: Diagnostics): CacheEntry | undefined {
    // The key was taken before the read: if the file changes in between, the next load sees a new
    // key and reads it again, so the cache never keeps stale content.
    const key = f.statKey;
    const hit = this.#entries.get(f.path);
    if (hit !== undefined && hit.key === key) {
      this.hits++;
      return hit;
    }
    let text: string;
    try {
      text = readFileSync(f.path, 'utf8');
    } catch (err) {
      diags.error({ file: f.path, message: `cannot read: ${errCode(err) ?? String(err)}` });
      return undefined;
    }
    this.misses++;
    if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    return { key, parsed: parseFile(f.path, text), lastSeen: 0 };
  }
}
