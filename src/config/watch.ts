// Hot reload. fs.watch on every config directory (and the directory of every named file, so atomic
// renames are seen), on the secrets directory and each secret's own directory (Kubernetes swaps a
// `..data` symlink there), plus a cheap poll that compares a fingerprint of paths, sizes, times and
// inodes. Bursts are debounced; a reload re-parses only changed files (ParseCache). onResult is
// called only when the outcome changed: the effective config, a secret value, or the diagnostics.
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { existsSync, type FSWatcher, promises as fsp, watch as fsWatch } from 'node:fs';
import { dirname, join } from 'node:path';
import { Diagnostics, formatDiagnostics } from './diagnostics.js';
import { type Discovery, discover, statKey } from './files.js';
import { type ConfigResult, type LoadDetails, type LoadOptions, loadWith, sharedLoaderState } from './load.js';

export interface ConfigWatcher {
  close(): Promise<void>;
  /** Settles once the watcher has taken its baseline; changes before that are part of the baseline. */
  readonly ready: Promise<void>;
}

export interface WatchOptions extends LoadOptions {
  debounceMs?: number;
  pollMs?: number;
  /** The result the caller is already serving; if the files no longer match it, onResult fires once at start. */
  baseline?: ConfigResult;
  /** After every check (for logs and tests): whether inputs changed (reloaded) and onResult was called. */
  onCycle?: (info: { trigger: string; reloaded: boolean; delivered: boolean; timings?: LoadDetails['timings'] }) => void;
}

export const DEFAULT_DEBOUNCE_MS = 50;
export const DEFAULT_POLL_MS = 2000;

/** Secrets directory: `<dir>/<name>/<key>`, each level possibly behind symlinks; dot-names skipped. */
async function secretsSnapshot(dir: string): Promise<{ dirs: string[]; entries: string[] }> {
  const dirs = [dir];
  const entries: string[] = [];
  const list = async (d: string): Promise<string[]> => (await fsp.readdir(d).catch(() => [] as string[])).filter((n) => !n.startsWith('.')).sort();
  for (const name of await list(dir)) {
    const sub = join(dir, name);
    const st = await fsp.stat(sub).catch(() => undefined);
    if (st === undefined) continue;
    if (!st.isDirectory()) {
      entries.push(`${sub}=${statKey(st)}`);
      continue;
    }
    dirs.push(sub);
    for (const key of await list(sub)) {
      const file = join(sub, key);
      const fst = await fsp.stat(file).catch(() => undefined);
      if (fst !== undefined) entries.push(`${file}=${statKey(fst)}`);
    }
  }
  return { dirs, entries };
}

export function watchConfig(opts: WatchOptions, onResult: (result: ConfigResult, trigger: string) => void): ConfigWatcher {
  const debounceMs = opts.debounceMs ?? DEFAULT_DEBOUNCE_MS;
  const pollMs = opts.pollMs ?? DEFAULT_POLL_MS;
  const state = sharedLoaderState;
  // Secret values take part in "did anything change" through a keyed hash that never leaves memory.
  const hmacKey = randomBytes(32);
  const watchers = new Map<string, FSWatcher>();
  let closed = false;
  let lastStat: string | undefined;
  let lastKey: string | undefined;
  let debounce: NodeJS.Timeout | undefined;
  let pending: string | undefined;
  let running: Promise<void> | undefined;
  let again = false;

  const outcomeKey = (r: ConfigResult): string => {
    const h = createHmac('sha256', hmacKey);
    for (const b of r.config?.backends.values() ?? []) h.update(`${b.key}\0${b.credential?.value.reveal() ?? ''}\0`);
    return createHash('sha256')
      .update(`${r.config?.fingerprint ?? 'invalid'}\n${h.digest('hex')}\n${formatDiagnostics(r.diagnostics)}`)
      .digest('hex');
  };

  const updateWatches = (dirs: Iterable<string>): void => {
    const want = new Set(dirs);
    for (const [d, w] of watchers) {
      if (!want.has(d)) {
        w.close();
        watchers.delete(d);
      }
    }
    for (const d of want) {
      if (watchers.has(d)) continue;
      try {
        const w = fsWatch(d, { persistent: false }, (event, filename) => schedule(`${event} ${filename === null ? d : join(d, filename.toString())}`));
        w.on('error', () => {
          // The directory went away (or was replaced); the poll notices and the next reload re-watches.
          w.close();
          if (watchers.get(d) === w) watchers.delete(d);
        });
        watchers.set(d, w);
      } catch {
        // Missing now; polling covers it until it appears.
      }
    }
  };

  const snapshot = async (): Promise<{ found: Discovery; diags: Diagnostics; stat: string; dirs: Set<string> }> => {
    const diags = new Diagnostics();
    const found = await discover(opts.paths, diags);
    const dirs = new Set(found.dirs);
    for (const f of found.files) if (!f.fromDir) dirs.add(dirname(f.path));
    // A named path that does not exist (yet): watch where it would appear.
    for (const p of opts.paths) if (!existsSync(p)) dirs.add(dirname(p));
    const parts = found.files.map((f) => `${f.path}=${f.statKey}`);
    parts.push(...found.dirs.map((d) => `dir ${d}`));
    parts.push(...diags.items.map((d) => `diag ${d.file} ${d.message}`));
    if (opts.secretsDir !== undefined) {
      const s = await secretsSnapshot(opts.secretsDir);
      for (const d of s.dirs) dirs.add(d);
      parts.push(...s.entries);
    }
    return { found, diags, stat: createHash('sha256').update(parts.join('\n')).digest('hex'), dirs };
  };

  const check = async (trigger: string, initial: boolean): Promise<void> => {
    const snap = await snapshot();
    if (closed) return;
    updateWatches(snap.dirs);
    if (!initial && snap.stat === lastStat) {
      opts.onCycle?.({ trigger, reloaded: false, delivered: false });
      return;
    }
    const details = await loadWith(state, opts, { found: snap.found, diags: snap.diags });
    if (closed) return;
    lastStat = snap.stat;
    const key = outcomeKey(details.result);
    if (initial) lastKey = opts.baseline === undefined ? key : outcomeKey(opts.baseline);
    const delivered = key !== lastKey;
    if (delivered) {
      lastKey = key;
      onResult(details.result, trigger);
    }
    opts.onCycle?.({ trigger, reloaded: true, delivered, timings: details.timings });
  };

  const cycle = (trigger: string, initial = false): Promise<void> => {
    if (running !== undefined) {
      again = true;
      pending ??= trigger;
      return running;
    }
    running = (async () => {
      let t = trigger;
      let first = initial;
      for (;;) {
        again = false;
        try {
          await check(t, first);
        } catch {
          // Config problems arrive as diagnostics, not exceptions. What can throw here is I/O racing
          // a change (the next event or poll retries) or the caller's onResult; either way the
          // watcher must keep watching.
        }
        first = false;
        if (!again || closed) break;
        t = pending ?? t;
        pending = undefined;
      }
    })().finally(() => {
      running = undefined;
    });
    return running;
  };

  function schedule(trigger: string): void {
    if (closed) return;
    pending ??= trigger;
    if (debounce !== undefined) clearTimeout(debounce);
    debounce = setTimeout(() => {
      debounce = undefined;
      const t = pending ?? trigger;
      pending = undefined;
      void cycle(t);
    }, debounceMs);
    debounce.unref();
  }

  const ready = cycle('start', true);
  const poll = setInterval(() => {
    if (running === undefined && debounce === undefined) void cycle('poll');
  }, pollMs);
  poll.unref();

  return {
    ready,
    async close(): Promise<void> {
      closed = true;
      clearInterval(poll);
      if (debounce !== undefined) clearTimeout(debounce);
      for (const w of watchers.values()) w.close();
      watchers.clear();
      await running;
    },
  };
}
