// A worker's picker and its share of picker state, in one process, with the batches it would send
// kept in a list and its batch timer run by hand (tests hand the batches to a peer themselves).
import { pickerConfig } from '../../src/bench/picker-cost.js';
import type { InferencePoolConfig } from '../../src/config/types.js';
import { PoolPicker } from '../../src/upstream/pool/picker.js';
import { PickerShare, SHARE_INTERVAL_MS, type PickerBatch, type ShareOptions } from '../../src/upstream/pool/share.js';
import type { EndpointHandle } from '../../src/upstream/pools.js';

export interface SharingWorker {
  readonly picker: PoolPicker;
  readonly share: PickerShare;
  readonly sent: PickerBatch[];
  /** Runs the share's pending batch timer, if armed. */
  flush(): void;
}

export function sharingWorker(o: { cfg?: InferencePoolConfig; clock?: () => number; intervalMs?: number; share?: ShareOptions } = {}): SharingWorker {
  const sent: PickerBatch[] = [];
  let timer: (() => void) | undefined;
  const share = new PickerShare({ send: (b) => sent.push(b), later: (fn) => (timer = fn) }, o.intervalMs ?? SHARE_INTERVAL_MS, o.share);
  const endpoint = (ep: { host: string; port: number }): EndpointHandle => ({ origin: `http://${ep.host}:${ep.port}`, pool: undefined as unknown as EndpointHandle['pool'], downUntil: 0, consecutiveFailures: 0, inflight: 0 });
  const picker = new PoolPicker(o.cfg ?? pickerConfig('picker', 32), endpoint, o.clock ?? (() => 0), share);
  return {
    picker,
    share,
    sent,
    flush: () => {
      const t = timer;
      timer = undefined;
      t?.();
    },
  };
}
