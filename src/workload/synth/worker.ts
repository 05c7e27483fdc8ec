// Worker thread of `tollgate synth` (threads.ts): writes the one profile stream it is given.
import { parentPort, workerData } from 'node:worker_threads';
import { loadTokenizer } from '../../tokenizer/index.js';
import { TokenCounter } from '../tokens.js';
import { synthStream, type StreamJob } from './run.js';
import type { FromSynthWorker } from './threads.js';

const port = parentPort;
if (port === null) throw new Error('synth worker: not started as a worker thread');
const post = (m: FromSynthWorker): void => port.postMessage(m);
try {
  const counter = new TokenCounter(await loadTokenizer('o200k_harmony'));
  synthStream(workerData as StreamJob, counter, (sessions, bytes) => post({ type: 'progress', sessions, bytes }));
  post({ type: 'done' });
} catch (err) {
  const e = err as { message?: string; hint?: string };
  post({ type: 'error', message: e.message ?? String(err), ...(typeof e.hint === 'string' ? { hint: e.hint } : {}) });
}
