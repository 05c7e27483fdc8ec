// A worker's side of the endpoint pickers' shared state on the admin /metrics (the primary sums the
// workers): what it learned from its peers, and the peers' in-flight requests it counts per endpoint.
import { Counter, Gauge, type Registry } from 'prom-client';
import type { PickerShare } from '../upstream/pool/share.js';

export function attachShareTelemetry(registry: Registry, share: PickerShare): void {
  const registers = [registry];
  new Counter({
    name: 'tollgate_picker_shared_entries_total',
    help: "Prefix-cache blocks and sessions an InferencePool's picker learned from the instance's other workers.",
    labelNames: ['pool', 'kind'],
    registers,
    collect() {
      this.reset();
      for (const v of share.view()) {
        this.inc({ pool: v.pool, kind: 'blocks' }, v.learnedBlocks);
        this.inc({ pool: v.pool, kind: 'sessions' }, v.learnedSessions);
      }
    },
  });
  new Gauge({
    name: 'tollgate_endpoint_peer_inflight',
    help: "Requests the instance's other workers have in flight to each endpoint of an InferencePool, as each worker's picker counts them (summed over workers).",
    labelNames: ['pool', 'endpoint'],
    registers,
    collect() {
      this.reset();
      for (const v of share.view()) for (const [endpoint, n] of v.peerInflight) this.set({ pool: v.pool, endpoint }, n);
    },
  });
}
