// loadConfig: paths → discovery → cached per-file parse → compile. Never throws for bad input: every
// problem is a diagnostic, and `config` is undefined iff there is at least one error.
import { promises as fsp } from 'node:fs';
import { compile } from './compile/index.js';
import { CompileMemo } from './compile/memo.js';
import { Diagnostics } from './diagnostics.js';
import { type Discovery, discover, ParseCache } from './files.js';
import type { Diagnostic, RuntimeConfig } from './types.js';

export interface LoadOptions {
  /** Files and/or directories (directories: every *.yaml/*.yml/*.json inside, recursively, skipping
   * names that start with "." but following symlinks such as `file.yaml -> ..data/file.yaml`). */
  paths: readonly string[];
  /** `<dir>/<secret-name>/<key>`; each `<secret-name>` may itself be a volume with `..data`. */
  secretsDir?: string;
  /** Default process.env. */
  env?: Readonly<Record<string, string | undefined>>;
  purpose: 'serve' | 'validate';
}

export interface ConfigResult {
  config: RuntimeConfig | undefined;
  diagnostics: Diagnostic[];
}

export interface LoadDetails {
  readonly result: ConfigResult;
  /** Directories walked (config dirs and the directories of named files), for the watcher. */
  readonly dirs: readonly string[];
  readonly files: readonly string[];
  /** Where the time went, for benchmarks and reload logs. */
  readonly timings: { readonly discoverMs: number; readonly parseMs: number; readonly compileMs: number; readonly reparsed: number };
}

/** What survives between loads: parsed files and compiled pieces, both keyed so stale entries miss. */
export class LoaderState {
  readonly parse = new ParseCache();
  readonly memo = new CompileMemo();
}

/** Shared by loadConfig and watchers, so a watcher's baseline load after loadConfig re-parses nothing. */
export const sharedLoaderState = new LoaderState();

export async function loadWith(
  state: LoaderState,
  opts: LoadOptions,
  pre?: { found: Discovery; diags: Diagnostics },
): Promise<LoadDetails> {
  const diags = pre?.diags ?? new Diagnostics();
  let dirs: readonly string[] = [];
  let files: readonly string[] = [];
  const t0 = performance.now();
  let t1 = t0;
  let t2 = t0;
  const misses = state.parse.misses;
  const timings = () => ({
    discoverMs: t1 - t0,
    parseMs: t2 - t1,
    compileMs: performance.now() - t2,
    reparsed: state.parse.misses - misses,
  });
  try {
    if (opts.paths.length === 0) {
      diags.error({ file: '<command line>', message: 'no config paths given', hint: 'pass --config with a file or directory of manifests' });
    }
    const found = pre?.found ?? (await discover(opts.paths, diags));
    dirs = found.dirs;
    files = found.files.map((f) => f.path);
    t1 = performance.now();
    const parsed = await state.parse.load(found.files, diags);
    t2 = performance.now();
    const usable = [];
    for (const f of parsed) {
      diags.push(...f.diagnostics);
      if (!f.notManifests) {
        usable.push(f);
        continue;
      }
      const fromDir = found.files.find((x) => x.path === f.path)?.fromDir ?? false;
      if (fromDir && f.ratesFile) continue; // chargeback prices beside the scenario: expected there
      const d = {
        file: f.path,
        message: 'not a Kubernetes manifest file (no document has apiVersion and kind)',
        hint: fromDir ? 'skipped; move non-manifest YAML (Helm values, recipes) out of the config directory to silence this' : 'pass manifest files only',
      };
      if (fromDir) diags.warn(d);
      else diags.error(d);
    }
    if (opts.secretsDir !== undefined) {
      const st = await fsp.stat(opts.secretsDir).catch(() => undefined);
      if (st === undefined || !st.isDirectory()) {
        diags.error({ file: opts.secretsDir, message: 'secrets directory not found', hint: 'check --secrets-dir (layout: <dir>/<secret-name>/<key>)' });
      }
    }
    const config = await compile({
      memo: state.memo,
      files: usable,
      secretsDir: opts.secretsDir,
      env: opts.env ?? process.env,
      purpose: opts.purpose,
      diags,
    });
    for (const f of parsed) f.source.release();
    await new Promise<void>((r) => setImmediate(r));
    return { result: { config: diags.errorCount > 0 ? undefined : config, diagnostics: diags.sorted() }, dirs, files, timings: timings() };
  } catch (err) {
    // A bug here must not take the gateway down or hide the old config: report it like any problem.
    diags.error({
      file: opts.paths[0] ?? '<config>',
      message: `internal error while loading the config: ${err instanceof Error ? err.message : String(err)}`,
      hint: 'this is a Tollgate bug; please report it with the manifests that trigger it',
    });
    return { result: { config: undefined, diagnostics: diags.sorted() }, dirs, files, timings: timings() };
  }
}

export async function loadConfig(opts: LoadOptions): Promise<ConfigResult> {
  return (await loadWith(sharedLoaderState, opts)).result;
}
