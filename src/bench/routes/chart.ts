// Self-contained SVG charts for the benchmark's HTML page: no scripts, no external assets, so the
// page opens anywhere (a CI artifact, an air-gapped laptop).

export interface Series {
  readonly name: string;
  readonly points: ReadonlyArray<readonly [number, number]>;
  readonly style: 'line' | 'dots';
  readonly color: string;
}

export interface ChartSpec {
  readonly title: string;
  readonly xLabel: string;
  readonly yLabel: string;
  readonly series: readonly Series[];
  /** Horizontal reference lines (a goal, a competitor's number). */
  readonly refs?: ReadonlyArray<{ readonly y: number; readonly label: string; readonly color: string }>;
  readonly yMin?: number;
}

const W = 760;
const H = 320;
const PAD = { l: 70, r: 170, t: 34, b: 44 };

export const COLORS = ['#2563eb', '#dc2626', '#16a34a', '#9333ea', '#ea580c', '#0891b2', '#4b5563'];

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function niceMax(v: number): number {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function fmt(v: number): string {
  if (Math.abs(v) >= 1e6) return `${(v / 1e6).toFixed(v % 1e6 === 0 ? 0 : 1)}M`;
  if (Math.abs(v) >= 1e4) return `${(v / 1e3).toFixed(0)}k`;
  if (Number.isInteger(v)) return String(v);
  return v.toFixed(Math.abs(v) < 1 ? 2 : 1);
}

export function svgChart(c: ChartSpec): string {
  const all = c.series.flatMap((s) => s.points);
  const xMax = niceMax(Math.max(1, ...all.map((p) => p[0])));
  const yMax = niceMax(Math.max(...all.map((p) => p[1]), ...(c.refs ?? []).map((r) => r.y), 0) * 1.05);
  const yMin = c.yMin ?? 0;
  const pw = W - PAD.l - PAD.r;
  const ph = H - PAD.t - PAD.b;
  const x = (v: number): number => PAD.l + (v / xMax) * pw;
  const y = (v: number): number => PAD.t + ph - ((v - yMin) / (yMax - yMin || 1)) * ph;
  const parts: string[] = [];
  parts.push(`<text x="${PAD.l}" y="20" font-size="14" font-weight="600">${esc(c.title)}</text>`);
  for (let i = 0; i <= 5; i++) {
    const yv = yMin + ((yMax - yMin) * i) / 5;
    const xv = (xMax * i) / 5;
    parts.push(`<line x1="${PAD.l}" x2="${PAD.l + pw}" y1="${y(yv)}" y2="${y(yv)}" stroke="#e5e7eb"/>`);
    parts.push(`<text x="${PAD.l - 6}" y="${y(yv) + 4}" font-size="11" text-anchor="end">${fmt(yv)}</text>`);
    parts.push(`<text x="${x(xv)}" y="${PAD.t + ph + 16}" font-size="11" text-anchor="middle">${fmt(xv)}</text>`);
  }
  parts.push(`<rect x="${PAD.l}" y="${PAD.t}" width="${pw}" height="${ph}" fill="none" stroke="#9ca3af"/>`);
  parts.push(`<text x="${PAD.l + pw / 2}" y="${H - 6}" font-size="12" text-anchor="middle">${esc(c.xLabel)}</text>`);
  parts.push(`<text transform="translate(14 ${PAD.t + ph / 2}) rotate(-90)" font-size="12" text-anchor="middle">${esc(c.yLabel)}</text>`);
  for (const r of c.refs ?? []) {
    if (r.y > yMax) continue;
    parts.push(`<line x1="${PAD.l}" x2="${PAD.l + pw}" y1="${y(r.y)}" y2="${y(r.y)}" stroke="${r.color}" stroke-dasharray="6 4"/>`);
    parts.push(`<text x="${PAD.l + pw - 4}" y="${y(r.y) - 4}" font-size="11" text-anchor="end" fill="${r.color}">${esc(r.label)}</text>`);
  }
  c.series.forEach((s, i) => {
    if (s.style === 'line' && s.points.length > 0) {
      const d = s.points.map((p, j) => `${j === 0 ? 'M' : 'L'}${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join('');
      parts.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="1.6"/>`);
    } else {
      // Thin out dense scatters: the shape survives, the page stays small.
      const step = Math.max(1, Math.floor(s.points.length / 4000));
      for (let j = 0; j < s.points.length; j += step) {
        const p = s.points[j];
        if (p !== undefined) parts.push(`<circle cx="${x(p[0]).toFixed(1)}" cy="${y(p[1]).toFixed(1)}" r="1.8" fill="${s.color}" fill-opacity="0.6"/>`);
      }
    }
    const ly = PAD.t + 14 + i * 18;
    parts.push(`<rect x="${W - PAD.r + 12}" y="${ly - 9}" width="10" height="10" fill="${s.color}"/>`);
    parts.push(`<text x="${W - PAD.r + 28}" y="${ly}" font-size="11">${esc(s.name)}</text>`);
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" font-family="system-ui, sans-serif">${parts.join('')}</svg>`;
}

export function htmlPage(title: string, intro: string, sections: ReadonlyArray<{ heading: string; html: string }>): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>body{font-family:system-ui,sans-serif;max-width:1000px;margin:24px auto;padding:0 16px;color:#111}
table{border-collapse:collapse;font-size:13px;margin:8px 0 16px}td,th{border:1px solid #d1d5db;padding:3px 8px;text-align:right}
th{background:#f3f4f6}td:first-child,th:first-child{text-align:left}pre{background:#f9fafb;padding:8px;overflow:auto}</style>
</head><body><h1>${esc(title)}</h1>${intro}
${sections.map((s) => `<h2>${esc(s.heading)}</h2>\n${s.html}`).join('\n')}
</body></html>
`;
}

export function htmlTable(head: readonly string[], rows: ReadonlyArray<ReadonlyArray<string | number>>): string {
  return `<table><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr>${rows
    .map((r) => `<tr>${r.map((c) => `<td>${esc(String(c))}</td>`).join('')}</tr>`)
    .join('')}</table>`;
}
