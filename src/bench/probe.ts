// Preloaded into a benchmarked gateway (`node --import <this>`, with TOLLGATE_BENCH_PROBE_PORT set):
// a tiny HTTP control port on loopback that starts and stops V8's profilers inside the gateway
// process through node:inspector, so a profile covers exactly the measured window and not start-up.
//
//   POST /cpu/start, POST /cpu/stop    → the .cpuprofile JSON
//   POST /heap/start, POST /heap/stop  → the sampling heap profile JSON, counting every allocation
//                                        (collected ones too), so its total is the bytes allocated
//   POST /heap/start-outliving         → the same, counting only what no scavenge freed; its stop
//                                        adds how many scavenges and full collections ran
//   GET  /memory                       → process.memoryUsage() after a full GC when exposed
// Nothing in the gateway knows about it; without the variable the module does nothing.
import http from 'node:http';
import { Session } from 'node:inspector';
import { GCProfiler, setFlagsFromString, type GCProfilerResult } from 'node:v8';
import { runInNewContext } from 'node:vm';

const port = Number(process.env['TOLLGATE_BENCH_PROBE_PORT'] ?? '');
const PROBE_URL = import.meta.url;

function post(session: Session, method: string, params: object = {}): Promise<unknown> {
  return new Promise((resolve, reject) => session.post(method, params, (err, res) => (err === null ? resolve(res) : reject(err))));
}

interface ProfileNode {
  callFrame: { url: string };
  children: ProfileNode[];
}

/**
 * Drops what the probe itself allocated: the profile's own JSON is made by the stop request while
 * sampling still runs (a few hundred KB, which would be charged to the requests measured).
 */
function withoutProbe(node: ProfileNode): ProfileNode {
  node.children = node.children.filter((c) => c.callFrame.url !== PROBE_URL).map(withoutProbe);
  return node;
}

type Scavenge = (options: { type: 'minor' }) => void;
let scavenger: Scavenge | undefined;

/**
 * A scavenge on demand. Only the probe sees the function: it comes from a fresh context, so the
 * gateway's own global has no `gc`.
 */
function scavenge(): void {
  if (scavenger === undefined) {
    setFlagsFromString('--expose-gc');
    scavenger = runInNewContext('gc') as Scavenge;
  }
  scavenger({ type: 'minor' });
}

/**
 * The collections in the window. A full collection frees young objects too, and the sampler counts
 * those as outliving the young generation: a figure taken across one includes that garbage.
 */
function collections(r: GCProfilerResult): { scavenges: number; fullCollections: number } {
  let scavenges = 0;
  let fullCollections = 0;
  for (const s of r.statistics) {
    if (s.gcType === 'Scavenge') scavenges++;
    else if (s.gcType === 'MarkSweepCompact') fullCollections++;
  }
  return { scavenges, fullCollections };
}

if (Number.isInteger(port) && port > 0) {
  const session = new Session();
  session.connect();
  /** Set while an outliving profile runs. */
  let gcs: GCProfiler | undefined;
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
    'POST /heap/start-outliving': async () => {
      await post(session, 'HeapProfiler.startSampling', { samplingInterval: 4096, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: false });
      gcs = new GCProfiler();
      gcs.start();
    },
    'POST /heap/stop': async () => {
      const outliving = gcs;
      gcs = undefined;
      const gcStats = outliving === undefined ? undefined : collections(outliving.stop());
      // The young generation still holds the garbage of the last requests, up to a whole
      // semi-space of it: never freed by a scavenge, the sampler would count it as outliving one.
      if (outliving !== undefined) scavenge();
      const { profile } = (await post(session, 'HeapProfiler.stopSampling')) as { profile: { head: ProfileNode } };
      withoutProbe(profile.head);
      return gcStats === undefined ? profile : { ...profile, ...gcStats };
    },
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
