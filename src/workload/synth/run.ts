// `tollgate synth`: generates the selected profiles' sessions into a corpus directory.
import { existsSync, mkdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { loadTokenizer } from '../../tokenizer/index.js';
import type { Layout } from '../envelope.js';
import { CorpusError, rebuildManifest, SIDECAR_FILE, type Manifest } from '../manifest.js';
import { TokenCounter } from '../tokens.js';
import { StreamWriter } from '../writer.js';
import { applyOverrides, DEFAULT_PROFILES, type SynthProfile } from './profiles.js';
import { buildSession, systemPrompt } from './session.js';
import { runInWorkers, synthWorkerScript } from './threads.js';

export interface SynthSelection {
  readonly name: string;
  readonly count?: number;
}

export interface SynthOptions {
  readonly out: string;
  /** Total sessions, split over the selected profiles in proportion to their defaults. */
  readonly sessions?: number;
  readonly seed: number;
  readonly selection?: readonly SynthSelection[];
  readonly overrides?: unknown;
  readonly model: string;
  readonly layout: Layout;
  readonly stream: boolean;
  readonly thinkScale: number;
  readonly partBytes: number;
  readonly maxTokensField: 'max_tokens' | 'max_completion_tokens';
  readonly exactLength: boolean;
  readonly replace: boolean;
  /** Worker threads, one profile stream each at a time (default: the machine's cores); 1 runs on this thread. */
  readonly threads?: number;
  readonly progress?: (line: string) => void;
}

export interface PlannedProfile {
  readonly profile: SynthProfile;
  readonly sessions: number;
}

/** Resolves `--profiles` entries (names, or letters meaning every profile with that letter). */
export function planProfiles(opts: Pick<SynthOptions, 'sessions' | 'selection' | 'overrides'>): PlannedProfile[] {
  let profiles: SynthProfile[] = [...DEFAULT_PROFILES];
  if (opts.overrides !== undefined) {
    const r = applyOverrides(profiles, opts.overrides);
    if (typeof r === 'string') throw new CorpusError(r);
    profiles = r;
  }
  const chosen: Array<{ profile: SynthProfile; count?: number }> = [];
  const selection: readonly SynthSelection[] = opts.selection ?? profiles.map((p) => ({ name: p.name }));
  for (const sel of selection) {
    const matches = profiles.filter((p) => p.name === sel.name || p.profile === sel.name);
    if (matches.length === 0) {
      throw new CorpusError(`unknown profile "${sel.name}"`, `one of ${profiles.map((p) => `${p.name} (${p.profile})`).join(', ')}, or a letter A–D`);
    }
    for (const m of matches) {
      if (chosen.some((c) => c.profile.name === m.name)) throw new CorpusError(`profile "${m.name}" is selected twice`);
      if (sel.count !== undefined && matches.length > 1) throw new CorpusError(`"${sel.name}=${sel.count}" is ambiguous: ${sel.name} has ${matches.length} profiles`, `give counts per profile name: ${matches.map((x) => x.name).join(', ')}`);
      chosen.push({ profile: m, ...(sel.count === undefined ? {} : { count: sel.count }) });
    }
  }
  const explicit = chosen.filter((c) => c.count !== undefined);
  if (explicit.length > 0 && opts.sessions !== undefined) throw new CorpusError('give either --sessions or per-profile counts (--profiles name=N), not both');
  if (opts.sessions === undefined || explicit.length === chosen.length) {
    return chosen.map((c) => ({ profile: c.profile, sessions: c.count ?? c.profile.sessions }));
  }
  // Largest-remainder split of --sessions in proportion to the profiles' default counts.
  const weights = chosen.map((c) => c.profile.sessions);
  const total = weights.reduce((a, b) => a + b, 0);
  if (total === 0) throw new CorpusError('the selected profiles all have 0 default sessions; give counts with --profiles name=N');
  const exact = weights.map((w) => (opts.sessions! * w) / total);
  const counts = exact.map(Math.floor);
  let left = opts.sessions - counts.reduce((a, b) => a + b, 0);
  const order = exact.map((e, i) => [e - Math.floor(e), i] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
  for (const [, i] of order) {
    if (left <= 0) break;
    counts[i] = (counts[i] ?? 0) + 1;
    left--;
  }
  return chosen.map((c, i) => ({ profile: c.profile, sessions: counts[i] ?? 0 }));
}

/** What one profile's stream needs of the options (plain data, as a worker thread receives it). */
type StreamOptions = Pick<SynthOptions, 'out' | 'seed' | 'model' | 'layout' | 'stream' | 'thinkScale' | 'partBytes' | 'maxTokensField' | 'exactLength'>;

/** One profile's stream. */
export interface StreamJob extends StreamOptions {
  readonly profile: SynthProfile;
  readonly sessions: number;
}

/** Writes one profile's stream; `onSessions(n)` reports progress every 256 sessions and at the end. */
export function synthStream(job: StreamJob, counter: TokenCounter, onSessions: (done: number, bytes: number) => void): void {
  const p = job.profile;
  const writer = new StreamWriter({
    dir: job.out,
    name: p.name,
    profile: p.profile,
    app: p.app,
    source: `synth:${p.name}`,
    layout: job.layout,
    model: job.model,
    stream: job.stream,
    partBytes: job.partBytes,
    maxTokensField: job.maxTokensField,
    exactLength: job.exactLength,
    counter,
    generator: { command: 'synth', seed: job.seed, think_scale: job.thinkScale, profile: p },
  });
  const system = systemPrompt(p, job.seed);
  for (let si = 0; si < job.sessions; si++) {
    writer.writeSession(buildSession(p, job.seed, si, system, job.thinkScale));
    if (((si + 1) & 255) === 0) onSessions(si + 1, writer.bytesWritten);
  }
  writer.finish({ count: 0, by_reason: {}, examples: [], repairs: {} });
  onSessions(job.sessions, writer.bytesWritten);
}

export async function runSynth(opts: SynthOptions): Promise<Manifest> {
  const plan = planProfiles(opts);
  mkdirSync(opts.out, { recursive: true });
  if (!opts.replace) {
    const clash = plan.filter((p) => existsSync(join(opts.out, p.profile.name, SIDECAR_FILE)));
    if (clash.length > 0) {
      throw new CorpusError(`${opts.out} already has stream(s) ${clash.map((c) => c.profile.name).join(', ')}`, 'pass --replace to overwrite them, or choose another --out');
    }
  }
  const { out, seed, model, layout, stream, thinkScale, partBytes, maxTokensField, exactLength } = opts;
  const shared: StreamOptions = { out, seed, model, layout, stream, thinkScale, partBytes, maxTokensField, exactLength };
  const jobs: StreamJob[] = plan.map(({ profile, sessions }) => ({ ...shared, profile, sessions }));
  const totalSessions = plan.reduce((a, p) => a + p.sessions, 0);
  const done = new Map<string, number>();
  let lastReport = Date.now();
  const progress = (name: string, n: number, bytes: number): void => {
    done.set(name, n);
    if (opts.progress === undefined || Date.now() - lastReport < 2000) return;
    lastReport = Date.now();
    const all = [...done.values()].reduce((a, b) => a + b, 0);
    opts.progress(`synth: ${all}/${totalSessions} sessions (${name}: ${(bytes / 1e6).toFixed(0)} MB)`);
  };
  const threads = Math.min(opts.threads ?? availableParallelism(), jobs.length);
  const script = threads > 1 ? synthWorkerScript() : undefined;
  if (script === undefined) {
    const counter = new TokenCounter(await loadTokenizer('o200k_harmony'));
    for (const job of jobs) synthStream(job, counter, (n, bytes) => progress(job.profile.name, n, bytes));
  } else {
    await runInWorkers(script, jobs, threads, progress);
  }
  return rebuildManifest(opts.out);
}
