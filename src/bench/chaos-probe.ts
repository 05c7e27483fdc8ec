// Watching the gateway from outside during the chaos soak: its RSS and open file descriptors from
// /proc, the slope of a series (to tell a leak from noise), and how many requests its ledger holds.
// It is separate from chaos.ts because these are measurements of a process the bench only started:
// they read what the gateway left behind and never talk to it.
import { readdirSync, readlinkSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { processTree, rssMb } from './chaos-memory.js';

export interface Sample {
  readonly t: number;
  readonly rssMb: number;
  readonly fds: number;
  readonly sockets: number;
}

/**
 * The gateway's RSS and open descriptors (and how many are sockets), read from /proc over its whole
 * process tree: with several workers the primary alone barely moves.
 */
export function sample(pid: number, t: number): Sample {
  let fds = 0;
  let sockets = 0;
  for (const p of processTree(pid)) {
    try {
      for (const fd of readdirSync(`/proc/${p}/fd`)) {
        fds++;
        try {
          if (readlinkSync(`/proc/${p}/fd/${fd}`).startsWith('socket:')) sockets++;
        } catch {
          // closed meanwhile
        }
      }
    } catch {
      // process gone
    }
  }
  return { t, rssMb: rssMb(pid), fds, sockets };
}

/** Least-squares slope of y over x. */
export function slope(points: ReadonlyArray<readonly [number, number]>): number {
  const n = points.length;
  if (n < 2) return 0;
  let sx = 0;
  let sy = 0;
  let sxx = 0;
  let sxy = 0;
  for (const [x, y] of points) {
    sx += x;
    sy += y;
    sxx += x * x;
    sxy += x * y;
  }
  const d = n * sxx - sx * sx;
  return d === 0 ? 0 : (n * sxy - sx * sy) / d;
}

/** Requests in the ledger: a request may have a provisional line before its final one (same key). */
export async function countLedger(dir: string): Promise<number> {
  const keys = new Set<string>();
  for (const f of await readdir(dir).catch(() => [] as string[])) {
    if (!f.endsWith('.jsonl')) continue;
    const text = await readFile(join(dir, f), 'utf8');
    for (const line of text.split('\n')) {
      if (line.trim() === '') continue;
      try {
        const key = (JSON.parse(line) as { key?: unknown }).key;
        if (typeof key === 'string') keys.add(key);
      } catch {
        // a torn last line after a crash would show up as a missing record
      }
    }
  }
  return keys.size;
}
