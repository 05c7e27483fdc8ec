// Monotonic time for durations (never Date.now for intervals: wall clocks jump).
import { performance } from 'node:perf_hooks';

/** Milliseconds on a monotonic clock, sub-millisecond precision. */
export function nowMs(): number {
  return performance.now();
}

/** Wall-clock epoch milliseconds, for records and logs only. */
export function epochMs(): number {
  return Date.now();
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
      return;
    }
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(t);
      reject(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
