// The tables `bench overhead` prints: every row against the upstream reached directly, each gateway
// against the Node.js floor (node-min) with the goals it is held to, and, with --compare, the
// current build against another commit's.
import type { LoadResult } from './loadgen.js';

export type Mode = 'json' | 'stream';

export interface Row {
  /** direct, node-min, nginx, tollgate, tollgate+limits+ledger; a compared commit's rows end in @REF. */
  target: string;
  mode: Mode;
  concurrency: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  firstByteP50Ms: number;
  cpuUsPerRequest: number | undefined;
  errors: number;
}

export interface Comparison {
  target: string;
  mode: Mode;
  concurrency: number;
  addedP50Ms: number;
  addedP99Ms: number;
  addedFirstByteP50Ms: number;
  throughputRatio: number;
}

export interface Goal {
  target: string;
  goal: string;
  measured: string;
  met: boolean;
}

export function toRow(target: string, mode: Mode, concurrency: number, r: LoadResult, cpu: number | undefined): Row {
  return {
    target,
    mode,
    concurrency,
    rps: r.requests / r.seconds,
    p50Ms: r.latency.p50 / 1000,
    p99Ms: r.latency.p99 / 1000,
    firstByteP50Ms: r.firstByte.p50 / 1000,
    cpuUsPerRequest: cpu,
    errors: r.errors,
  };
}

const f3 = (n: number): string => n.toFixed(3);

export function summarize(rows: Row[]): { table: string; comparisons: Comparison[] } {
  const comparisons: Comparison[] = [];
  const w = Math.max(8, ...rows.map((r) => r.target.length));
  const lines = [
    `${'target'.padEnd(w)}  mode    conc      req/s    p50 ms    p99 ms  1st-byte p50   CPU µs/req   added p50   added p99   vs direct`,
    `${'-'.repeat(w)}  ------  ----  ---------  --------  --------  ------------  -----------  ----------  ----------  ---------`,
  ];
  for (const r of rows) {
    const base = rows.find((d) => d.target === 'direct' && d.mode === r.mode && d.concurrency === r.concurrency);
    let added = '';
    if (base !== undefined && r.target !== 'direct') {
      const c: Comparison = {
        target: r.target,
        mode: r.mode,
        concurrency: r.concurrency,
        addedP50Ms: r.p50Ms - base.p50Ms,
        addedP99Ms: r.p99Ms - base.p99Ms,
        addedFirstByteP50Ms: r.firstByteP50Ms - base.firstByteP50Ms,
        throughputRatio: r.rps / base.rps,
      };
      comparisons.push(c);
      added = `${f3(c.addedP50Ms).padStart(10)}  ${f3(c.addedP99Ms).padStart(10)}  ${(c.throughputRatio * 100).toFixed(1).padStart(8)}%`;
    }
    const cpu = r.cpuUsPerRequest === undefined ? '' : r.cpuUsPerRequest.toFixed(0);
    lines.push(
      `${r.target.padEnd(w)}  ${r.mode.padEnd(6)}  ${String(r.concurrency).padStart(4)}  ${r.rps.toFixed(0).padStart(9)}  ${f3(r.p50Ms).padStart(8)}  ${f3(r.p99Ms).padStart(8)}  ${f3(r.firstByteP50Ms).padStart(12)}  ${cpu.padStart(11)}  ${added}${r.errors > 0 ? `  errors=${r.errors}` : ''}`,
    );
  }
  return { table: lines.join('\n') + '\n', comparisons };
}

function find(rows: readonly Row[], target: string, mode: Mode, c: number): Row | undefined {
  return rows.find((d) => d.target === target && d.mode === mode && d.concurrency === c);
}

/** Each gateway against node-min, and the issue's goals where the run has the rows they need. */
export function floorReport(rows: readonly Row[], gateways: readonly string[]): { text: string; goals: Goal[] } {
  const lines = ['', 'each gateway over the Node.js floor (node-min: node:http + undici, parse and relay, nothing else)'];
  lines.push('target                         mode    conc   added p50 ms   added 1st-byte ms   req/s ratio   CPU µs/req        CPU ratio   vs node-min+together');
  const goals: Goal[] = [];
  for (const g of gateways) {
    for (const t of rows.filter((r) => r.target === g)) {
      const f = find(rows, 'node-min', t.mode, t.concurrency);
      if (f === undefined) continue;
      const cpuRatio = t.cpuUsPerRequest !== undefined && f.cpuUsPerRequest !== undefined && f.cpuUsPerRequest > 0 ? t.cpuUsPerRequest / f.cpuUsPerRequest : undefined;
      // The floor with the gateway's one relaying technique node-min lacks (answers ended together), when the run has it.
      const tf = find(rows, 'node-min+together', t.mode, t.concurrency)?.cpuUsPerRequest;
      const vsTogether = tf === undefined || t.cpuUsPerRequest === undefined || tf <= 0 ? '' : `${(t.cpuUsPerRequest / tf).toFixed(2)}x`;
      const cpu = cpuRatio === undefined ? '' : `${(f.cpuUsPerRequest ?? 0).toFixed(0).padStart(4)} → ${(t.cpuUsPerRequest ?? 0).toFixed(0).padStart(4)}   ${cpuRatio.toFixed(2)}x   ${vsTogether.padStart(20)}`;
      lines.push(
        `${g.padEnd(29)}  ${t.mode.padEnd(6)}  ${String(t.concurrency).padStart(4)}  ${f3(t.p50Ms - f.p50Ms).padStart(13)}  ${f3(t.firstByteP50Ms - f.firstByteP50Ms).padStart(18)}  ${(t.rps / f.rps).toFixed(2).padStart(12)}   ${cpu}`,
      );
      const goal = (goalText: string, measured: string, met: boolean): void => void goals.push({ target: g, goal: goalText, measured, met });
      if (t.mode === 'json' && t.concurrency === 16) {
        goal('c=16 json: req/s ≥ 90% of node-min', `${((t.rps / f.rps) * 100).toFixed(0)}%`, t.rps / f.rps >= 0.9);
        if (cpuRatio !== undefined) goal('c=16 json: CPU/request ≤ 1.15× node-min', `${cpuRatio.toFixed(2)}×`, cpuRatio <= 1.15);
      }
      if (t.mode === 'json' && t.concurrency === 1) goal('c=1 json: p50 ≤ node-min + 0.03 ms', `+${f3(t.p50Ms - f.p50Ms)} ms`, t.p50Ms - f.p50Ms <= 0.03);
      if (t.mode === 'stream' && t.concurrency === 1) goal('c=1 stream: first chunk ≤ node-min + 0.03 ms', `+${f3(t.firstByteP50Ms - f.firstByteP50Ms)} ms`, t.firstByteP50Ms - f.firstByteP50Ms <= 0.03);
      if (t.mode === 'stream' && t.concurrency === 16) goal('c=16 stream: req/s ≥ 90% of node-min', `${((t.rps / f.rps) * 100).toFixed(0)}%`, t.rps / f.rps >= 0.9);
    }
  }
  if (goals.length > 0) {
    lines.push('', 'goals (ratios against node-min in this run)');
    for (const g of goals) lines.push(`  ${g.met ? 'met    ' : 'NOT MET'}  ${g.target.padEnd(29)} ${g.goal.padEnd(48)} ${g.measured}`);
  }
  return { text: lines.join('\n') + '\n', goals };
}

/** The current gateways against the same gateways built from REF, measured in the same run. */
export function compareReport(rows: readonly Row[], gateways: readonly string[], ref: string): string {
  const lines = ['', `current build against ${ref} (same run): ratios current / ${ref}`];
  lines.push('target                         mode    conc   req/s ratio   CPU/req ratio   p50 ms (ref → now)   1st-byte ms (ref → now)');
  for (const g of gateways) {
    for (const t of rows.filter((r) => r.target === g)) {
      const b = find(rows, `${g}@${ref}`, t.mode, t.concurrency);
      if (b === undefined) continue;
      const cpu = t.cpuUsPerRequest !== undefined && b.cpuUsPerRequest !== undefined && b.cpuUsPerRequest > 0 ? (t.cpuUsPerRequest / b.cpuUsPerRequest).toFixed(2) : '';
      lines.push(
        `${g.padEnd(29)}  ${t.mode.padEnd(6)}  ${String(t.concurrency).padStart(4)}  ${(t.rps / b.rps).toFixed(2).padStart(12)}  ${cpu.padStart(14)}   ${`${f3(b.p50Ms)} → ${f3(t.p50Ms)}`.padStart(18)}   ${`${f3(b.firstByteP50Ms)} → ${f3(t.firstByteP50Ms)}`.padStart(22)}`,
      );
    }
  }
  return lines.join('\n') + '\n';
}
