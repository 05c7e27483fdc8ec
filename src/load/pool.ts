// Starts the drivers: worker threads (the default) or one driver on the main thread (`workers: 0`,
// and the fallback when running from TypeScript sources with no compiled worker script, as under
// vitest). The main thread only sends levels and receives batched reports.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { FromWorker, ToWorker, WorkerInit } from './protocol.js';
import type { Driver } from './worker/driver.js';

export interface DriverHandle {
  post(msg: ToWorker): void;
  terminate(): Promise<void>;
}

export type OnMessage = (msg: FromWorker) => void;

/** The compiled worker script: next to this module (dist/load/), or dist/ when run from src/. */
export function workerScript(): URL | undefined {
  const here = new URL('./worker/entry.js', import.meta.url);
  if (existsSync(fileURLToPath(here))) return here;
  const fromSrc = fileURLToPath(import.meta.url).replace(/\/src\/load\/pool\.ts$/, '/dist/load/worker/entry.js');
  if (fromSrc.endsWith('.js') && existsSync(fromSrc)) return new URL(`file://${fromSrc}`);
  return undefined;
}

export async function startDrivers(inits: readonly WorkerInit[], onMessage: OnMessage, threads: boolean): Promise<DriverHandle[]> {
  const script = threads ? workerScript() : undefined;
  if (script === undefined) {
    const { Driver } = await import('./worker/driver.js');
    return inits.map((init) => inProcess(init, onMessage, Driver));
  }
  return inits.map((init) => {
    const w = new Worker(script, { stdout: false, stderr: false });
    w.on('message', onMessage);
    w.on('error', (err) => onMessage({ type: 'fatal', worker: init.index, message: `worker ${init.index} crashed: ${err.message}` }));
    w.postMessage({ type: 'init', init } satisfies ToWorker);
    return {
      post: (msg) => w.postMessage(msg),
      terminate: async () => {
        await w.terminate();
      },
    };
  });
}

function inProcess(init: WorkerInit, onMessage: OnMessage, D: typeof Driver): DriverHandle {
  let driver: Driver | undefined;
  const pending: ToWorker[] = [];
  // Deliver asynchronously, as a thread would, so the main thread never re-enters itself.
  const deliver = (msg: FromWorker): void => {
    setImmediate(() => onMessage(msg));
  };
  D.start(init, deliver).then(
    (d) => {
      driver = d;
      for (const m of pending.splice(0)) d.handle(m);
    },
    (err: unknown) => {
      const e = err as { message?: string; hint?: string };
      deliver({ type: 'fatal', worker: init.index, message: e.message ?? String(err), ...(e.hint === undefined ? {} : { hint: e.hint }) });
    },
  );
  return {
    post: (msg) => {
      if (driver === undefined) pending.push(msg);
      else driver.handle(msg);
    },
    terminate: () => Promise.resolve(),
  };
}
