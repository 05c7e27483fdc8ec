// Inline SVG charts for the self-contained report: line and point series on one or two y axes,
// shaded bands (phases), vertical markers (T2), labelled points. No scripts, no external assets.

export interface Series {
  readonly name: string;
  readonly points: ReadonlyArray<readonly [number, number]>;
  readonly color: string;
  readonly axis?: 'left' | 'right';
  readonly dashed?: boolean;
  /** Draw markers at the points (saturation curves) as well as the line. */
  readonly dots?: boolean;
}

export interface ChartOptions {
  readonly title: string;
  readonly xLabel: string;
  readonly yLabel: string;
  readonly y2Label?: string;
  readonly series: readonly Series[];
  readonly width?: number;
  readonly height?: number;
  readonly bands?: ReadonlyArray<{ readonly x0: number; readonly x1: number; readonly label: string; readonly color: string }>;
  readonly vlines?: ReadonlyArray<{ readonly x: number; readonly label: string; readonly color: string }>;
  readonly hlines?: ReadonlyArray<{ readonly y: number; readonly label: string; readonly color: string; readonly axis?: 'left' | 'right' }>;
  readonly points?: ReadonlyArray<{ readonly x: number; readonly y: number; readonly label: string; readonly color: string; readonly axis?: 'left' | 'right' }>;
  /** y axes start at 0 (default true). */
  readonly zero?: boolean;
  readonly yFormat?: (v: number) => string;
  readonly y2Format?: (v: number) => string;
}

export const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#17becf', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22'];

export function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** 1, 2 or 5 × 10^k ticks covering [lo, hi]. */
export function niceTicks(lo: number, hi: number, target = 5): number[] {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return [0, 1];
  if (hi <= lo) hi = lo + (lo === 0 ? 1 : Math.abs(lo) * 0.1);
  const raw = (hi - lo) / target;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let v = Math.floor(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Math.round(v / step) * step);
  if ((out[out.length - 1] ?? lo) < hi) out.push((out[out.length - 1] ?? lo) + step);
  return out;
}

export function fmtNum(v: number): string {
  const a = Math.abs(v);
  if (a === 0) return '0';
  if (a >= 1e9) return `${(v / 1e9).toFixed(a >= 1e10 ? 0 : 1)}G`;
  if (a >= 1e6) return `${(v / 1e6).toFixed(a >= 1e7 ? 0 : 1)}M`;
  if (a >= 1e4) return `${(v / 1e3).toFixed(0)}k`;
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1).replace(/\.0$/, '');
  if (a >= 1) return v.toFixed(2).replace(/0$/, '').replace(/\.0$/, '');
  if (a >= 0.01) return v.toFixed(3).replace(/0+$/, '');
  return v.toPrecision(2);
}

export function chart(o: ChartOptions): string {
  const W = o.width ?? 760;
  const H = o.height ?? 300;
  // The same margins with or without a right axis, so stacked timelines line up.
  const m = { l: 62, r: 62, t: 30, b: 46 };
  const pw = W - m.l - m.r;
  const ph = H - m.t - m.b;
  const all = o.series.flatMap((s) => s.points);
  const left = o.series.filter((s) => (s.axis ?? 'left') === 'left').flatMap((s) => s.points.map((p) => p[1]));
  const right = o.series.filter((s) => s.axis === 'right').flatMap((s) => s.points.map((p) => p[1]));
  for (const h of o.hlines ?? []) (h.axis === 'right' ? right : left).push(h.y);
  for (const p of o.points ?? []) (p.axis === 'right' ? right : left).push(p.y);
  const xs = all.map((p) => p[0]).concat((o.bands ?? []).flatMap((b) => [b.x0, b.x1]), (o.vlines ?? []).map((v) => v.x));
  if (all.length === 0) {
    return `<svg class="chart" viewBox="0 0 ${W} ${H / 2}" role="img" aria-label="${esc(o.title)}"><text x="${W / 2}" y="${H / 4}" text-anchor="middle" class="muted">${esc(o.title)}: no data</text></svg>`;
  }
  const finite = (a: number[]): number[] => a.filter((v) => Number.isFinite(v));
  const xlo = Math.min(...finite(xs));
  const xhi = Math.max(...finite(xs));
  // The x axis spans the data exactly (time axes should end where the run ended).
  const xt = niceTicks(xlo, xhi, 6).filter((t) => t >= xlo - 1e-9 && t <= xhi + 1e-9);
  const range = (vals: number[]): number[] => {
    const f = finite(vals);
    if (f.length === 0) return [0, 1];
    const lo = o.zero === false ? Math.min(...f) : Math.min(0, ...f);
    return niceTicks(lo, Math.max(...f), 5);
  };
  const yt = range(left);
  const y2t = range(right);
  const x0 = xlo;
  const x1 = xhi > xlo ? xhi : xlo + 1;
  const X = (x: number): number => m.l + ((x - x0) / (x1 - x0 || 1)) * pw;
  const Y = (y: number, t: number[]): number => m.t + ph - ((y - (t[0] ?? 0)) / ((t[t.length - 1] ?? 1) - (t[0] ?? 0) || 1)) * ph;
  const yf = o.yFormat ?? fmtNum;
  const y2f = o.y2Format ?? fmtNum;
  const parts: string[] = [];
  parts.push(`<svg class="chart" viewBox="0 0 ${W} ${H}" role="img" aria-label="${esc(o.title)}" xmlns="http://www.w3.org/2000/svg">`);
  parts.push(`<text x="${m.l}" y="18" class="ctitle">${esc(o.title)}</text>`);
  for (const b of o.bands ?? []) {
    const a = X(Math.max(b.x0, x0));
    const z = X(Math.min(b.x1, x1));
    if (z <= a) continue;
    parts.push(`<rect x="${a.toFixed(1)}" y="${m.t}" width="${(z - a).toFixed(1)}" height="${ph}" fill="${b.color}" opacity="0.08"/>`);
    parts.push(`<text x="${(a + 4).toFixed(1)}" y="${m.t + 12}" class="band">${esc(b.label)}</text>`);
  }
  for (const t of yt) parts.push(`<line x1="${m.l}" x2="${m.l + pw}" y1="${Y(t, yt).toFixed(1)}" y2="${Y(t, yt).toFixed(1)}" class="grid"/><text x="${m.l - 6}" y="${(Y(t, yt) + 4).toFixed(1)}" text-anchor="end" class="tick">${esc(yf(t))}</text>`);
  if (o.y2Label !== undefined) for (const t of y2t) parts.push(`<text x="${m.l + pw + 6}" y="${(Y(t, y2t) + 4).toFixed(1)}" class="tick">${esc(y2f(t))}</text>`);
  for (const t of xt) parts.push(`<line x1="${X(t).toFixed(1)}" x2="${X(t).toFixed(1)}" y1="${m.t + ph}" y2="${m.t + ph + 4}" class="axis"/><text x="${X(t).toFixed(1)}" y="${m.t + ph + 17}" text-anchor="middle" class="tick">${esc(fmtNum(t))}</text>`);
  parts.push(`<rect x="${m.l}" y="${m.t}" width="${pw}" height="${ph}" class="frame"/>`);
  parts.push(`<text x="${m.l + pw / 2}" y="${H - 8}" text-anchor="middle" class="label">${esc(o.xLabel)}</text>`);
  parts.push(`<text transform="translate(14 ${m.t + ph / 2}) rotate(-90)" text-anchor="middle" class="label">${esc(o.yLabel)}</text>`);
  if (o.y2Label !== undefined) parts.push(`<text transform="translate(${W - 10} ${m.t + ph / 2}) rotate(90)" text-anchor="middle" class="label">${esc(o.y2Label)}</text>`);
  for (const h of o.hlines ?? []) {
    const t = h.axis === 'right' ? y2t : yt;
    const y = Y(h.y, t).toFixed(1);
    parts.push(`<line x1="${m.l}" x2="${m.l + pw}" y1="${y}" y2="${y}" stroke="${h.color}" stroke-dasharray="2 3"/><text x="${m.l + pw - 4}" y="${Number(y) - 4}" text-anchor="end" class="note" fill="${h.color}">${esc(h.label)}</text>`);
  }
  for (const v of o.vlines ?? []) {
    const x = X(v.x).toFixed(1);
    parts.push(`<line x1="${x}" x2="${x}" y1="${m.t}" y2="${m.t + ph}" stroke="${v.color}" stroke-dasharray="5 3" stroke-width="1.5"/><text x="${Number(x) + 4}" y="${m.t + 26}" class="note" fill="${v.color}">${esc(v.label)}</text>`);
  }
  for (const s of o.series) {
    const t = s.axis === 'right' ? y2t : yt;
    const pts = s.points.filter((p) => Number.isFinite(p[0]) && Number.isFinite(p[1]));
    if (pts.length === 0) continue;
    const d = pts.map((p, i) => `${i === 0 ? 'M' : 'L'}${X(p[0]).toFixed(1)},${Y(p[1], t).toFixed(1)}`).join('');
    parts.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="1.8"${s.dashed === true ? ' stroke-dasharray="6 3"' : ''}/>`);
    if (s.dots === true || pts.length === 1) for (const p of pts) parts.push(`<circle cx="${X(p[0]).toFixed(1)}" cy="${Y(p[1], t).toFixed(1)}" r="3" fill="${s.color}"/>`);
  }
  for (const p of o.points ?? []) {
    const t = p.axis === 'right' ? y2t : yt;
    // Labels near the right edge go to the left of their point.
    const right = X(p.x) > m.l + pw * 0.75;
    parts.push(`<circle cx="${X(p.x).toFixed(1)}" cy="${Y(p.y, t).toFixed(1)}" r="6" fill="none" stroke="${p.color}" stroke-width="2"/><text x="${(X(p.x) + (right ? -9 : 9)).toFixed(1)}" y="${(Y(p.y, t) - 8).toFixed(1)}" class="note" fill="${p.color}"${right ? ' text-anchor="end"' : ''}>${esc(p.label)}</text>`);
  }
  // Legend, top right.
  let lx = m.l + pw - 4;
  const legend: string[] = [];
  for (const s of [...o.series].reverse()) {
    const label = `${s.name}${s.axis === 'right' && o.y2Label !== undefined ? ' (right)' : ''}`;
    const w = label.length * 6.2 + 22;
    lx -= w;
    legend.push(`<line x1="${lx.toFixed(1)}" x2="${(lx + 14).toFixed(1)}" y1="14" y2="14" stroke="${s.color}" stroke-width="2.5"${s.dashed === true ? ' stroke-dasharray="4 2"' : ''}/><text x="${(lx + 18).toFixed(1)}" y="18" class="legend">${esc(label)}</text>`);
  }
  parts.push(...legend);
  parts.push('</svg>');
  return parts.join('');
}
