// `tollgate synth` on several cores: every profile is its own stream (own files, own seeds), so
// profiles are generated in worker threads, the largest first, each worker taking the next profile
// when it is done. The files are byte-identical to a single-threaded run.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { CorpusError } from '../manifest.js';
import { expectedMeans } from './profiles.js';
import type { StreamJob } from './run.js';

export type FromSynthWorker = { type: 'progress'; sessions: number; bytes: number } | { type: 'done' } | { type: 'error'; message: string; hint?: string };

/** The compiled worker script: next to this module (dist/), or in dist/ when running from src/ (tests). */
export function synthWorkerScript(): URL | undefined {
  const here = new URL('./worker.js', import.meta.url);
  if (existsSync(fileURLToPath(here))) return here;
  const fromSrc = fileURLToPath(import.meta.url).replace(/\/src\/workload\/synth\/threads\.ts$/, '/dist/workload/synth/worker.js');
  return fromSrc.endsWith('.js') && existsSync(fromSrc) ? new URL(`file://${fromSrc}`) : undefined;
}

export async function runInWorkers(script: URL, jobs: readonly StreamJob[], threads: number, progress: (name: string, sessions: number, bytes: number) => void): Promise<void> {
  // Largest expected work first, so the last profile to start is a small one.
  const queue = [...jobs].sort((a, b) => b.sessions * expectedMeans(b.profile).turns - a.sessions * expectedMeans(a.profile).turns);
  const one = (job: StreamJob): Promise<void> =>
    new Promise((resolve, reject) => {
      const w = new Worker(script, { workerData: job });
      let settled = false;
      w.on('message', (m: FromSynthWorker) => {
        if (m.type === 'progress') progress(job.profile.name, m.sessions, m.bytes);
        else if (m.type === 'done') {
          settled = true;
          resolve();
        } else {
          settled = true;
          reject(new CorpusError(`synth ${job.profile.name}: ${m.message}`, m.hint));
        }
      });
      w.on('error', (err) => {
        settled = true;
        reject(new CorpusError(`synth ${job.profile.name}: worker thread failed: ${err.message}`));
      });
      w.on('exit', (code) => {
        if (!settled) reject(new CorpusError(`synth ${job.profile.name}: worker thread exited with code ${code} before finishing`));
      });
    });
  let failed: Error | undefined;
  const lane = async (): Promise<void> => {
    for (let job = queue.shift(); job !== undefined && failed === undefined; job = queue.shift()) {
      try {
        await one(job);
      } catch (err) {
        failed ??= err instanceof Error ? err : new CorpusError(String(err));
      }
    }
  };
  await Promise.all(Array.from({ length: threads }, lane));
  if (failed !== undefined) throw failed;
}
