// A worker of several: the gateway without an admin listener, its local limits in the primary's
// store, config generations numbered by the primary. It answers the primary's questions (metrics,
// dashboard), reloads when told, drains when told, and leaves if the primary goes away.
import { Gateway, type GatewayOptions } from '../server/gateway.js';
import { IpcStore } from './ipc-store.js';
import type { WorkersTelemetry } from '../server/status-page.js';
import { isMessage, type Question, type ToPrimary, type ToWorker } from './protocol.js';
import { PickerShare, SHARE_INTERVAL_MS, shareAcrossWorkers, sharePrefillTokens } from '../upstream/pool/share.js';
import { attachShareTelemetry } from '../telemetry/picker-share-metrics.js';

export const WORKER_ENV = { generation: 'TOLLGATE_WORKER_GENERATION', index: 'TOLLGATE_WORKER_INDEX' } as const;

/** Runs until the primary says shut down (or disappears); resolves with the exit code. */
export async function runWorker(opts: Omit<GatewayOptions, 'admin' | 'watch' | 'localLimits' | 'firstGeneration'>): Promise<number> {
  const logger = opts.logger;
  const send = (m: ToPrimary): boolean => {
    if (process.send === undefined || !process.connected) return false;
    // false from send() only means a backlog; Node keeps the message and sends it later.
    process.send(m);
    return true;
  };
  const store = new IpcStore(send);
  // Before the gateway starts, so every endpoint picker it creates shares what it learns.
  const share = new PickerShare(
    {
      send: (batch) => void send({ t: 'picker', batch }),
      later: (fn, ms) => setTimeout(fn, ms).unref(),
      // Epoch milliseconds at sub-millisecond precision: every worker of the instance reads it alike.
      clock: () => performance.timeOrigin + performance.now(),
    },
    SHARE_INTERVAL_MS,
    { prefillTokens: sharePrefillTokens(process.env.TOLLGATE_PICKER_SHARE_PREFILL) },
  );
  shareAcrossWorkers(share);
  let gateway: Gateway | undefined;
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => (stopping ??= gatewayReady.then((g) => g.shutdown(), () => undefined));
  let lastWaiting: string | null = null;
  const waiting = (): string | null => {
    const r = gateway?.readiness();
    return r === undefined || r.ready ? null : r.reason;
  };
  const state = (): void => {
    const gen = gateway?.generation;
    lastWaiting = waiting();
    send({ t: 'state', generation: gen?.id ?? null, fingerprint: gen?.config.fingerprint ?? null, draining: gateway?.draining ?? false, waiting: lastWaiting });
  };
  let reloads = Promise.resolve();
  const done = new Promise<void>((resolve) => {
    process.on('message', (m: unknown) => {
      if (!isMessage<ToWorker>(m)) return;
      switch (m.t) {
        case 'store':
          store.answered(m.results, m.grants);
          return;
        case 'recall':
          store.recall(m.keys);
          return;
        case 'picker':
          share.receive(m.batches);
          return;
        case 'reload':
          // One at a time, in the order the primary sent them.
          reloads = reloads.then(async () => {
            // Still starting: the state it sends once it serves makes the primary ask again.
            if (gateway === undefined) return;
            if (gateway.generation?.id === m.generation) return state();
            const ok = await gateway.reloadAs(m.generation).catch(() => false);
            if (!ok) logger.warn('config changed again before this worker reloaded; keeping the current one', { generation: gateway.generation?.id });
            state();
          });
          return;
        case 'ask':
          void answer(m.id, m.what, m.telemetry);
          return;
        case 'shutdown':
          void stop().then(() => resolve());
          return;
      }
    });
    process.on('disconnect', () => {
      store.disconnected();
      if (stopping !== undefined) return;
      logger.error('the primary process is gone; this worker stops');
      void stop().then(() => resolve());
    });
  });
  // The primary coordinates shutdown; a signal sent to the whole process group must not make a
  // worker leave on its own (the primary would take that for a crash).
  for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, () => undefined);

  const answer = async (id: number, what: Question, telemetry: WorkersTelemetry | undefined): Promise<void> => {
    const gw = await gatewayReady;
    const value = what === 'metrics' ? await gw.metrics.registry.getMetricsAsJSON() : what === 'telemetry' ? gw.telemetryInfo() : gw.dashboard(telemetry);
    send({ t: 'reply', id, value });
  };

  const generation = Number(process.env[WORKER_ENV.generation] ?? '1');
  // `listen` is the address the first workers asked for, port 0 included: the primary keys its shared
  // listening socket by it, so a restarted worker joins the socket already bound.
  const gatewayReady = Gateway.start({
    ...opts,
    admin: undefined,
    watch: false,
    localLimits: store,
    firstGeneration: generation,
    // The instance's budget counters live in the primary, which rebuilds them once.
    rebuildBudgets: false,
  });
  const gw = (gateway = await gatewayReady);
  attachShareTelemetry(gw.metrics.registry, share);
  send({ t: 'listening', port: gw.dataAddress.port });
  state();
  // The worker's own readiness can change without a reload (a Redis store connecting): the
  // primary's /readyz hears of it within a poll.
  const poll = setInterval(() => {
    if (waiting() !== lastWaiting) state();
  }, 200);
  poll.unref();
  await done;
  clearInterval(poll);
  return 0;
}
