// The instance's admin endpoints, served by the primary: readiness over every worker, the config
// dump with each worker's generation, one merged scrape, and the dashboard with a workers table.
import { configDump } from '../config/index.js';
import type { AdminSource } from '../server/admin.js';
import { keysDisabled } from '../server/admin-keys.js';
import { renderStatusPage, type WorkersTelemetry } from '../server/status-page.js';
import type { TelemetryInfo } from '../telemetry/hub.js';
import type { Primary } from './primary.js';

export function instanceAdmin(p: Primary): AdminSource {
  return {
    ready: () => p.readiness(),
    configDump: () => ({
      // What every worker serves: a reload counts as applied once the last worker has switched,
      // so a client that waits for the generation to change sees the new config on any worker.
      generation: servedGeneration(p),
      loadedGeneration: p.generation,
      activatedAt: new Date(p.activatedAt).toISOString(),
      fingerprint: p.config.fingerprint,
      files: p.config.files,
      lastReload: p.lastReload,
      workers: workerRows(p),
      config: configDump(p.config),
      ignored: p.config.ignored,
      warnings: p.config.warnings,
    }),
    keys: (req, res, path) => (p.keyApi === undefined ? keysDisabled(req, res, path) : p.keyApi.handle(req, res, path)),
    metrics: async () => ({ contentType: p.metrics.contentType, text: await p.metrics.text(await p.workerMetrics()) }),
    dashboard: async () => {
      // Each worker writes its own ledger and runs its own sinks: the page lists them all. The
      // routes part comes from one worker (they all serve the same generation); the live figures
      // are read from this listener's /metrics, the whole instance.
      const infos = await Promise.all(p.slots.map(async (s) => [s.index, (await p.ask(s, 'telemetry')) as TelemetryInfo | undefined] as const));
      const telemetry: WorkersTelemetry = infos.flatMap(([w, t]) => (t === undefined ? [] : [[w, t] as const]));
      const slot = p.slots.find((s) => s.listening);
      const page = slot === undefined ? undefined : ((await p.ask(slot, 'dashboard', telemetry)) as string | undefined);
      const html = page ?? renderStatusPage(undefined, p.lastReload);
      return html.replace('<h1>Tollgate</h1>', `<h1>Tollgate</h1>\n${workersTable(p)}`);
    },
  };
}

function servedGeneration(p: Primary): number {
  let served = p.generation;
  for (const s of p.slots) {
    const g = s.state?.generation;
    if (s.listening && g != null && g < served) served = g;
  }
  return served;
}

interface WorkerRow {
  readonly worker: number;
  readonly pid: number | null;
  readonly state: 'restarting' | 'starting' | 'draining' | 'serving';
  readonly generation: number | null;
  readonly fingerprint: string | null;
  readonly restartsLastMinute: number;
}

function workerRows(p: Primary): WorkerRow[] {
  return p.slots.map((s) => ({
    worker: s.index,
    pid: s.worker?.process.pid ?? null,
    state: s.worker === undefined ? 'restarting' : !s.listening ? 'starting' : s.state?.draining === true ? 'draining' : 'serving',
    generation: s.state?.generation ?? null,
    fingerprint: s.state?.fingerprint ?? null,
    restartsLastMinute: s.exits.filter((t) => Date.now() - t < 60_000).length,
  }));
}

function workersTable(p: Primary): string {
  const rows = workerRows(p)
    .map((r) => `<tr><td>${r.worker}</td><td>${r.pid ?? '—'}</td><td>${r.state}</td><td>${r.generation ?? '—'}</td><td>${r.restartsLastMinute}</td></tr>`)
    .join('');
  return `<p>${p.slots.length} workers; the figures below are the whole instance.</p>
<table><tr><th>worker</th><th>pid</th><th>state</th><th>generation</th><th>restarts (1 min)</th></tr>${rows}</table>`;
}
