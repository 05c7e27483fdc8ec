// Where the gateway's memory is, as the chaos bench's abuse phase sees it from outside: RSS from
// /proc (the primary and its workers), and the JavaScript heap in use and V8's external memory
// (Buffers and other ArrayBuffers) summed over the workers, from the admin listener's /metrics.
// RSS far above heap + external after a phase is memory the allocator kept (or another thread's
// heap, e.g. the token-counting worker), not memory the gateway still references.
import { readdirSync, readFileSync } from 'node:fs';

export interface MemorySnapshot {
  readonly rssMb: number;
  readonly heapUsedMb: number;
  /** What V8 has reserved for the heap: above heapUsed, freed but not yet handed back. */
  readonly heapTotalMb: number;
  readonly externalMb: number;
  /** Full collections the gateway ran on going idle so far (summed over its workers). */
  readonly idleCollections: number;
}

export class MemoryProbe {
  private peakSnap: MemorySnapshot | undefined;
  private readonly marks: Array<{ label: string; snap: MemorySnapshot }> = [];

  constructor(
    private readonly pid: number,
    private readonly adminPort: number,
  ) {}

  async snapshot(): Promise<MemorySnapshot> {
    const m = await gatewayMemory(this.adminPort);
    return { rssMb: rssMb(this.pid), ...m };
  }

  /** Starts a phase: forgets the previous peak. */
  reset(): void {
    this.peakSnap = undefined;
  }

  /**
   * Samples during a phase; the snapshot with the highest RSS is the phase's peak. Each sample
   * scrapes /metrics, which resets the event-loop delay window: not while that is being measured.
   */
  async sample(): Promise<void> {
    const s = await this.snapshot();
    if (this.peakSnap === undefined || s.rssMb > this.peakSnap.rssMb) this.peakSnap = s;
  }

  async mark(label: string): Promise<MemorySnapshot> {
    const snap = await this.snapshot();
    this.marks.push({ label, snap });
    return snap;
  }

  markPeak(label: string): void {
    if (this.peakSnap !== undefined) this.marks.push({ label, snap: this.peakSnap });
  }

  lines(): string[] {
    return [
      'gateway memory (MB): RSS / JS heap used / heap reserved / external (Buffers, ArrayBuffers); idle collections so far',
      ...this.marks.map(({ label, snap }) => `  ${label.padEnd(34)} ${fmt(snap.rssMb)} / ${fmt(snap.heapUsedMb)} / ${fmt(snap.heapTotalMb)} / ${fmt(snap.externalMb)}; ${snap.idleCollections}`),
    ];
  }

  json(): Record<string, MemorySnapshot> {
    return Object.fromEntries(this.marks.map(({ label, snap }) => [label, snap]));
  }
}

function fmt(mb: number): string {
  return mb.toFixed(1).padStart(7);
}

/** The JS heap and external memory of the gateway's workers' main threads (prom-client's default metrics), and its idle collections. */
async function gatewayMemory(adminPort: number): Promise<Omit<MemorySnapshot, 'rssMb'>> {
  try {
    const text = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
    const read = (name: string): number => Number(new RegExp(`^${name}\\s+(\\S+)`, 'm').exec(text)?.[1] ?? 0);
    return {
      heapUsedMb: read('tollgate_process_nodejs_heap_size_used_bytes') / 1048576,
      heapTotalMb: read('tollgate_process_nodejs_heap_size_total_bytes') / 1048576,
      externalMb: read('tollgate_process_nodejs_external_memory_bytes') / 1048576,
      idleCollections: read('tollgate_idle_collections_total'),
    };
  } catch {
    return { heapUsedMb: 0, heapTotalMb: 0, externalMb: 0, idleCollections: 0 };
  }
}

/**
 * RSS of the gateway: its primary and every worker process it forked (the workers serve the
 * requests; the primary alone barely moves).
 */
export function rssMb(pid: number): number {
  let kb = 0;
  for (const p of processTree(pid)) {
    try {
      kb += Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${p}/status`, 'utf8'))?.[1] ?? 0);
    } catch {
      // exited between the listing and the read
    }
  }
  return kb / 1024;
}

/** The process and every descendant (the gateway's workers and their children). */
export function processTree(pid: number): number[] {
  const out = [pid];
  for (let i = 0; i < out.length; i++) {
    const p = out[i] as number;
    try {
      for (const t of readdirSync(`/proc/${p}/task`)) {
        for (const c of readFileSync(`/proc/${p}/task/${t}/children`, 'utf8').split(' ')) if (c.trim() !== '') out.push(Number(c));
      }
    } catch {
      // exited meanwhile
    }
  }
  return out;
}
