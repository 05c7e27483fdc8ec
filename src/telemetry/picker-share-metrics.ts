// A worker's side of the endpoint pickers' shared state on the admin /metrics (the primary sums the
// workers): the prefix blocks and sessions it learned from the instance's other workers.
import { Counter, type Registry } from 'prom-client';
import type { PickerShare } from '../upstream/pool/share.js';

export function attachShareTelemetry(registry: Registry, share: PickerShare): void {
  new Counter({
    name: 'tollgate_picker_shared_entries_total',
    help: "Prefix-cache blocks and sessions an InferencePool's picker learned from the instance's other workers.",
    labelNames: ['pool', 'kind'],
    registers: [registry],
    collect() {
      this.reset();
      for (const v of share.view()) {
        this.inc({ pool: v.pool, kind: 'blocks' }, v.learnedBlocks);
        this.inc({ pool: v.pool, kind: 'sessions' }, v.learnedSessions);
      }
    },
  });
}
