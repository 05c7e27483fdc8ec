// Hot reload through the real file system: edits, atomic renames, Kubernetes ..data symlink swaps
// (config dir and secrets dir), invalid changes, and no callbacks when nothing changed.
import { mkdirSync, renameSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig, watchConfig, type ConfigResult, type ConfigWatcher, type WatchOptions } from '../../src/config/index.js';
import { apiKeyPolicy, backend, docs, route, TempDir } from './helpers.js';

interface Cycle {
  trigger: string;
  reloaded: boolean;
  delivered: boolean;
}

class Recorder {
  readonly results: Array<{ result: ConfigResult; trigger: string }> = [];
  readonly cycles: Cycle[] = [];
  #waiters: Array<() => void> = [];
  watcher: ConfigWatcher | undefined;

  start(opts: Omit<WatchOptions, 'onCycle'>): Promise<void> {
    this.watcher = watchConfig(
      {
        pollMs: 200,
        debounceMs: 20,
        ...opts,
        onCycle: (c) => {
          this.cycles.push(c);
          this.#wake();
        },
      },
      (result, trigger) => {
        this.results.push({ result, trigger });
        this.#wake();
      },
    );
    return this.watcher.ready;
  }

  #wake(): void {
    const w = this.#waiters;
    this.#waiters = [];
    for (const f of w) f();
  }

  /** Waits until `pred` holds, re-checking after every watcher event. */
  async until(pred: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pred()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; cycles: ${JSON.stringify(this.cycles.slice(-5))}`);
      await new Promise<void>((res) => {
        this.#waiters.push(res);
        setTimeout(res, 250);
      });
    }
  }

  async nextResult(what: string): Promise<ConfigResult> {
    const n = this.results.length;
    await this.until(() => this.results.length > n, what);
    return this.results[n]!.result;
  }

  /** Waits for a full poll cycle that started after now, so every earlier change has been seen. */
  async settle(): Promise<void> {
    const n = this.cycles.length;
    await this.until(() => this.cycles.slice(n).some((c) => c.trigger === 'poll'), 'a poll cycle');
  }
}

let dir: TempDir;
let rec: Recorder;
beforeEach(() => {
  dir = new TempDir('tollgate-watch-');
  rec = new Recorder();
});
afterEach(async () => {
  await rec.watcher?.close();
  dir.remove();
});

const models = (r: ConfigResult): string[] => r.config!.routes.map((x) => x.rules[0]!.matches[0]!.headers[0]!.value);

describe('watchConfig', () => {
  it('reloads on an edit, on a new file and on a deletion', async () => {
    dir.write('cfg/routes.yaml', route('r', { model: 'm1' }));
    dir.write('cfg/backends.yaml', backend('be'));
    await rec.start({ paths: [dir.join('cfg')], purpose: 'serve', env: {} });
    expect(rec.results).toEqual([]);

    dir.write('cfg/routes.yaml', route('r', { model: 'm2' }));
    const edited = await rec.nextResult('the edit');
    expect(models(edited)).toEqual(['m2']);
    expect(rec.results[0]!.trigger).toMatch(/routes\.yaml|poll/);

    dir.write('cfg/sub/more.yaml', route('s', { model: 'm3' }));
    expect(models(await rec.nextResult('the new file'))).toEqual(['m2', 'm3']);

    rmSync(dir.join('cfg/sub/more.yaml'));
    expect(models(await rec.nextResult('the deletion'))).toEqual(['m2']);
  });

  it('sees an atomic rename over a watched file (the editor/`kubectl cp` pattern)', async () => {
    const file = dir.write('cfg/c.yaml', docs(route('r', { model: 'before' }), backend('be')));
    await rec.start({ paths: [file], purpose: 'serve', env: {} });
    writeFileSync(dir.join('cfg/.c.yaml.tmp'), docs(route('r', { model: 'after' }), backend('be')));
    renameSync(dir.join('cfg/.c.yaml.tmp'), file);
    expect(models(await rec.nextResult('the rename'))).toEqual(['after']);
  });

  it('follows a Kubernetes ConfigMap volume when its ..data symlink is swapped', async () => {
    const vol = dir.join('cm');
    const publish = (version: string, model: string): void => {
      mkdirSync(join(vol, version), { recursive: true });
      writeFileSync(join(vol, version, 'config.yaml'), docs(route('r', { model }), backend('be')));
      symlinkSync(version, join(vol, '..data_tmp'));
      renameSync(join(vol, '..data_tmp'), join(vol, '..data')); // atomic, as the kubelet does
    };
    publish('..2024_01_01_00_00_00.1', 'v1');
    symlinkSync(join('..data', 'config.yaml'), join(vol, 'config.yaml'));
    await rec.start({ paths: [vol], purpose: 'serve', env: {} });
    expect(rec.results).toEqual([]);

    publish('..2024_01_01_00_00_00.2', 'v2');
    rmSync(join(vol, '..2024_01_01_00_00_00.1'), { recursive: true });
    const r = await rec.nextResult('the ..data swap');
    expect(models(r)).toEqual(['v2']);
    expect(r.config!.files).toEqual([join(vol, 'config.yaml')]);
  });

  it('follows a Secret volume in the secrets dir when its ..data symlink is swapped', async () => {
    dir.write('cfg/c.yaml', docs(route('r'), backend('be'), apiKeyPolicy('p', 'be', 'openai-key')));
    const vol = dir.join('secrets', 'openai-key');
    const publish = (version: string, key: string): void => {
      mkdirSync(join(vol, version), { recursive: true });
      writeFileSync(join(vol, version, 'apiKey'), key);
      symlinkSync(version, join(vol, '..data_tmp'));
      renameSync(join(vol, '..data_tmp'), join(vol, '..data'));
    };
    publish('..v1', 'sk-old');
    symlinkSync(join('..data', 'apiKey'), join(vol, 'apiKey'));
    const opts = { paths: [dir.join('cfg')], secretsDir: dir.join('secrets'), purpose: 'serve' as const, env: {} };
    const first = await loadConfig(opts);
    expect(first.config!.backends.get('default/be')!.credential!.value.reveal()).toBe('Bearer sk-old');
    await rec.start({ ...opts, baseline: first });

    publish('..v2', 'sk-rotated');
    const r = await rec.nextResult('the secret rotation');
    // The dump (and so the fingerprint) is redacted, yet the rotation is delivered.
    expect(r.config!.fingerprint).toBe(first.config!.fingerprint);
    expect(r.config!.backends.get('default/be')!.credential!.value.reveal()).toBe('Bearer sk-rotated');
  });

  it('the poll catches what fs.watch cannot see (a symlink target edited in an unwatched directory)', async () => {
    const real = dir.write('elsewhere/real.yaml', docs(route('r', { model: 'p1' }), backend('be')));
    mkdirSync(dir.join('cfg'));
    symlinkSync(real, dir.join('cfg', 'c.yaml'));
    await rec.start({ paths: [dir.join('cfg')], purpose: 'serve', env: {} });
    writeFileSync(real, docs(route('r', { model: 'p2-longer' }), backend('be')));
    expect(models(await rec.nextResult('the polled change'))).toEqual(['p2-longer']);
    expect(rec.results[0]!.trigger).toBe('poll');
  });

  it('reports an invalid change with its diagnostics and no config, then the fix', async () => {
    dir.write('cfg/c.yaml', docs(route('r'), backend('be')));
    await rec.start({ paths: [dir.join('cfg')], purpose: 'serve', env: {} });
    dir.write('cfg/c.yaml', docs(route('r').replace('backendRefs:', 'backendRefz:'), backend('be')));
    const bad = await rec.nextResult('the invalid change');
    expect(bad.config).toBeUndefined();
    expect(bad.diagnostics.filter((d) => d.severity === 'error').map((d) => d.message)).toEqual(['unknown field `backendRefz`']);
    dir.write('cfg/c.yaml', docs(route('r', { model: 'fixed' }), backend('be')));
    expect(models(await rec.nextResult('the fix'))).toEqual(['fixed']);
  });

  it('does not call back when nothing changed', async () => {
    const file = dir.write('cfg/c.yaml', docs(route('r'), backend('be')));
    await rec.start({ paths: [dir.join('cfg')], purpose: 'serve', env: {} });

    const future = new Date(Date.now() + 60_000);
    utimesSync(file, future, future); // touched: inputs changed, outcome did not
    await rec.until(() => rec.cycles.some((c) => c.reloaded), 'a reload after the touch');
    writeFileSync(file, docs(route('r'), backend('be'))); // same bytes again
    dir.write('cfg/README.md', 'not a manifest');
    dir.write('cfg/.hidden.yaml', 'garbage: [');
    await rec.settle();
    expect(rec.results).toEqual([]);
    expect(rec.cycles.filter((c) => c.delivered)).toEqual([]);

    dir.write('cfg/c.yaml', docs(route('r', { model: 'real-change' }), backend('be')));
    expect(models(await rec.nextResult('the real change'))).toEqual(['real-change']);
    expect(rec.results).toHaveLength(1);
  });

  it('picks up a config file that did not exist when watching started', async () => {
    mkdirSync(dir.join('cfg'));
    const file = dir.join('cfg', 'late.yaml');
    await rec.start({ paths: [file], purpose: 'serve', env: {} });
    writeFileSync(file, docs(route('r', { model: 'late' }), backend('be')));
    expect(models(await rec.nextResult('the new file'))).toEqual(['late']);
  });

  it('delivers once at start when the files no longer match the baseline', async () => {
    dir.write('cfg/c.yaml', docs(route('r', { model: 'old' }), backend('be')));
    const baseline = await loadConfig({ paths: [dir.join('cfg')], purpose: 'serve', env: {} });
    dir.write('cfg/c.yaml', docs(route('r', { model: 'new' }), backend('be')));
    await rec.start({ paths: [dir.join('cfg')], purpose: 'serve', env: {}, baseline });
    expect(rec.results.map((x) => [models(x.result), x.trigger])).toEqual([[['new'], 'start']]);
  });

  it('stops calling back after close()', async () => {
    dir.write('cfg/c.yaml', docs(route('r'), backend('be')));
    await rec.start({ paths: [dir.join('cfg')], purpose: 'serve', env: {} });
    await rec.watcher!.close();
    const cycles = rec.cycles.length;
    dir.write('cfg/c.yaml', docs(route('r', { model: 'x' }), backend('be')));
    // Another watcher on the same files proves the change was observable.
    const other = new Recorder();
    await other.start({ paths: [dir.join('cfg')], purpose: 'serve', env: {} });
    dir.write('cfg/c.yaml', docs(route('r', { model: 'y' }), backend('be')));
    await other.nextResult('the change');
    await other.watcher!.close();
    expect(rec.results).toEqual([]);
    expect(rec.cycles.length).toBe(cycles);
  });
});
