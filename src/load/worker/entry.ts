// Worker-thread entry: receives `init`, runs a Driver, relays messages. Nothing else lives here so
// the same Driver runs on the main thread when `workers: 0`.
import { parentPort } from 'node:worker_threads';
import type { FromWorker, ToWorker } from '../protocol.js';
import { Driver } from './driver.js';

const port = parentPort;
if (port === null) throw new Error('worker/entry.js must run in a worker thread');

let driver: Driver | undefined;
const pending: ToWorker[] = [];
const post = (msg: FromWorker, transfer?: ArrayBuffer[]): void => port.postMessage(msg, transfer ?? []);

port.on('message', (msg: ToWorker) => {
  if (msg.type === 'init') {
    Driver.start(msg.init, post).then(
      (d) => {
        driver = d;
        for (const m of pending.splice(0)) d.handle(m);
      },
      (err: unknown) => {
        const e = err as { message?: string; hint?: string };
        post({ type: 'fatal', worker: msg.init.index, message: e.message ?? String(err), ...(e.hint === undefined ? {} : { hint: e.hint }) });
      },
    );
    return;
  }
  if (driver === undefined) pending.push(msg);
  else driver.handle(msg);
});
