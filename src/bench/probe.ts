// Preloaded into a benchmarked gateway (`node --import <this>`, with TOLLGATE_BENCH_PROBE_PORT set):
// a tiny HTTP control port on loopback that starts and stops V8's profilers inside the gateway
// process through node:inspector, so a profile covers exactly the measured window and not start-up.
//
//   POST /cpu/start, POST /cpu/stop    → the .cpuprofile JSON
//   POST /heap/start, POST /heap/stop  → the sampling heap profile JSON, counting every allocation
//                                        (collected ones too), so its total is the bytes allocated
//   POST /heap/start-outliving         → the same, counting only what no scavenge freed
//   GET  /memory                       → process.memoryUsage() after a full GC when exposed
// Nothing in the gateway knows about it; without the variable the module does nothing.
import http from 'node:http';
import { Session } from 'node:inspector';

const port = Number(process.env['TOLLGATE_BENCH_PROBE_PORT'] ?? '');

function post(session: Session, method: string, params: object = {}): Promise<unknown> {
  return new Promise((resolve, reject) => session.post(method, params, (err, res) => (err === null ? resolve(res) : reject(err))));
}

if (Number.isInteger(port) && port > 0) {
  const session = new Session();
  session.connect();
  const actions: Record<string, () => Promise<unknown>> = {
    'POST /cpu/start': async () => {
      await post(session, 'Profiler.enable');
      await post(session, 'Profiler.setSamplingInterval', { interval: 100 });
      return post(session, 'Profiler.start');
    },
    'POST /cpu/stop': async () => ((await post(session, 'Profiler.stop')) as { profile: unknown }).profile,
    'POST /heap/start': () =>
      post(session, 'HeapProfiler.startSampling', { samplingInterval: 4096, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true }),
    // Only what outlives the young generation: the objects a scavenge could not free. They are
    // copied, promoted and left to the full collections, so a few KiB of them per request costs
    // more than tens of KiB of short-lived garbage.
    'POST /heap/start-outliving': () =>
      post(session, 'HeapProfiler.startSampling', { samplingInterval: 4096, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: false }),
    'POST /heap/stop': async () => ((await post(session, 'HeapProfiler.stopSampling')) as { profile: unknown }).profile,
    'GET /memory': () => {
      (globalThis as { gc?: () => void }).gc?.();
      return Promise.resolve(process.memoryUsage());
    },
  };
  const server = http.createServer((req, res) => {
    const action = actions[`${req.method ?? ''} ${req.url ?? ''}`];
    if (action === undefined) {
      res.writeHead(404).end();
      return;
    }
    action().then(
      (out) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(out ?? {})),
      (err: unknown) => res.writeHead(500).end(String(err)),
    );
  });
  server.listen(port, '127.0.0.1');
  // The probe must never keep a stopping gateway alive.
  server.unref();
}
