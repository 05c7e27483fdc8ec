// What every mode of `tollgate sim` shares: reading a profile with its --set overrides, the
// --template-overhead and --api-key/--api-key-file flags, and waiting for the signal that stops the
// servers. It is separate from sim.ts so the command's own file holds only its flags and which
// servers it starts; these helpers turn flag text into checked values with errors that name the flag.
import { readFile } from 'node:fs/promises';
import { CliError, parsePositiveInt, UsageError } from './args.js';
import type { ChatTemplate } from '../tokenizer/index.js';
import { ProfileError, profileFromObject, resolveProfile, type SimProfile } from '../sim/index.js';
import { deepMerge } from '../sim/profile.js';

export function positiveNumber(v: string, flag: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`${flag}: "${v}" must be a positive number`);
  return n;
}

/** `a.b.c=value` pairs as a nested object; values parse as JSON when they can (numbers, booleans). */
function overrides(sets: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const item of sets) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw new UsageError(`--set ${item}: expected FIELD=VALUE, e.g. scheduler.maxNumSeqs=1024`);
    const path = item.slice(0, eq).split('.');
    const text = item.slice(eq + 1);
    let value: unknown = text;
    try {
      value = JSON.parse(text);
    } catch {
      // a bare string, e.g. encoding=cl100k_base
    }
    let cur = out;
    path.forEach((k, i) => {
      if (i === path.length - 1) cur[k] = value;
      else {
        const next = cur[k];
        if (typeof next === 'object' && next !== null) cur = next as Record<string, unknown>;
        else {
          const fresh: Record<string, unknown> = {};
          cur[k] = fresh;
          cur = fresh;
        }
      }
    });
  }
  return out;
}

export async function loadProfile(name: string | undefined, sets: readonly string[] = []): Promise<SimProfile> {
  try {
    const base = await resolveProfile(name);
    if (sets.length === 0) return base;
    return profileFromObject(deepMerge(base, overrides(sets)), '--set');
  } catch (err) {
    if (err instanceof ProfileError) throw new CliError(err.message, err.hint);
    throw err;
  }
}

export function templateOverhead(text: string | undefined): ChatTemplate | undefined {
  if (text === undefined) return undefined;
  const parts = text.split(',').map((x) => parsePositiveInt(x.trim(), '--template-overhead', { min: 0, max: 100 }));
  if (parts.length !== 3) throw new UsageError('--template-overhead: give three numbers, per message, per name and per reply, e.g. 4,1,3');
  return { perMessage: parts[0] ?? 0, perName: parts[1] ?? 0, perReply: parts[2] ?? 0 };
}

export async function apiKeyFrom(v: { 'api-key'?: string; 'api-key-file'?: string }): Promise<string | undefined> {
  if (v['api-key'] !== undefined && v['api-key-file'] !== undefined) throw new UsageError('give --api-key or --api-key-file, not both');
  if (v['api-key-file'] !== undefined) {
    try {
      const key = (await readFile(v['api-key-file'], 'utf8')).trim();
      if (key === '') throw new CliError(`--api-key-file ${v['api-key-file']} is empty`);
      return key;
    } catch (err) {
      if (err instanceof CliError) throw err;
      throw new CliError(`cannot read --api-key-file ${v['api-key-file']}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
  }
  return v['api-key'] ?? (process.env['TOLLGATE_SIM_API_KEY'] || undefined);
}

export function waitForSignal(): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      process.off('SIGINT', done);
      process.off('SIGTERM', done);
      resolve();
    };
    process.on('SIGINT', done);
    process.on('SIGTERM', done);
  });
}
