// Small formatting helpers shared by the report's sections.
import { esc } from './charts.js';

export function table(headers: readonly string[], rows: ReadonlyArray<ReadonlyArray<string>>, opts: { cls?: string; caption?: string } = {}): string {
  const head = headers.map((h) => `<th>${h}</th>`).join('');
  const body = rows.map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join('')}</tr>`).join('');
  return `<table${opts.cls === undefined ? '' : ` class="${opts.cls}"`}>${opts.caption === undefined ? '' : `<caption>${opts.caption}</caption>`}<thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>`;
}

export function sec(x: number | null | undefined, digits = 3): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return '–';
  if (x < 0.001 && x > 0) return `${(x * 1e3).toFixed(2)} ms`;
  if (x < 1) return `${x.toFixed(digits)} s`;
  return `${x.toFixed(x >= 100 ? 1 : digits)} s`;
}

export function msec(x: number | null | undefined, digits = 2): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return '–';
  return `${x.toFixed(digits)} ms`;
}

export function pct(x: number | null | undefined, digits = 2): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return '–';
  return `${(x * 100).toFixed(digits)}%`;
}

export function num(x: number | null | undefined, digits = 2): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return '–';
  return x.toFixed(digits);
}

export function int(x: number | null | undefined): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return '–';
  return Math.round(x).toLocaleString('en-US');
}

export function duration(s: number): string {
  if (s < 120) return `${s.toFixed(0)} s`;
  if (s < 7200) return `${(s / 60).toFixed(1)} min`;
  return `${(s / 3600).toFixed(2)} h`;
}

export function badge(text: string, kind: 'ok' | 'warn' | 'bad' | 'info'): string {
  return `<span class="badge ${kind}">${esc(text)}</span>`;
}

export function level(x: number, mode: 'users' | 'rate'): string {
  return mode === 'users' ? `${Math.round(x)} users` : `${num(x, 3)} sess/s`;
}

export const CSS = `
:root{--fg:#1b1f24;--muted:#667;--line:#d8dde3;--bg:#fff;--alt:#f6f8fa;--ok:#1a7f37;--warn:#9a6700;--bad:#cf222e;--info:#0969da}
*{box-sizing:border-box}body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg);margin:0;padding:24px 32px;max-width:1200px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:32px 0 8px;border-bottom:1px solid var(--line);padding-bottom:4px}h3{font-size:15px;margin:18px 0 6px}
.muted,.meta{color:var(--muted)}.meta{font-size:13px}
table{border-collapse:collapse;margin:8px 0 12px;font-size:13px}th,td{border:1px solid var(--line);padding:4px 8px;text-align:right;vertical-align:top}th{background:var(--alt);font-weight:600}
td:first-child,th:first-child{text-align:left}caption{caption-side:top;text-align:left;font-weight:600;padding:4px 0}
tr.t2 td{background:#fff4e5}tr.bad td{background:#ffebe9}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600}.badge.ok,.badge.warn,.badge.bad,.badge.info{color:#fff}.badge.ok{background:var(--ok)}.badge.warn{background:var(--warn)}.badge.bad{background:var(--bad)}.badge.info{background:var(--info)}
.cards{display:flex;flex-wrap:wrap;gap:10px;margin:12px 0}.card{border:1px solid var(--line);border-radius:6px;padding:8px 12px;min-width:150px}.card .v{font-size:20px;font-weight:600}.card .k{font-size:12px;color:var(--muted)}
svg.chart{width:100%;max-width:900px;height:auto;display:block;margin:6px 0 14px;font-size:11px}
svg .grid{stroke:#eceff2}svg .frame{fill:none;stroke:#b8c0c8}svg .axis{stroke:#889}svg .tick{fill:#556}svg .label{fill:#334;font-size:12px}svg .ctitle{font-weight:600;font-size:13px;fill:#223}
svg .legend{fill:#334}svg .note{font-size:11px;font-weight:600}svg .band{fill:#556;font-size:10px}
.warn{color:var(--warn)}.bad{color:var(--bad)}ul.warnings li{color:var(--warn)}
details{margin:8px 0}summary{cursor:pointer;font-weight:600}pre{background:var(--alt);padding:8px;overflow:auto;font-size:12px}
dl.defs dt{font-weight:600;margin-top:6px}dl.defs dd{margin:0 0 0 16px;color:#333}
code{background:var(--alt);padding:0 3px;border-radius:3px}
`;
