// The admin dashboard at `/`: what is serving (routes, generation, reloads) and where usage goes
// (ledger, database, access log, traces), rendered on the server; live traffic, tokens by model and
// workload, drift, latency, pools and MCP tool calls come from a small script that reads this listener's /metrics.
// Without JavaScript the page still shows everything that is server-rendered, and links to /metrics.
import type { Generation } from '../pipeline/generation.js';
import { DASHBOARD_SCRIPT } from '../telemetry/dashboard-client.js';
import type { TelemetryInfo } from '../telemetry/hub.js';

/** Each worker's telemetry, by worker index, when several workers serve one instance. */
export type WorkersTelemetry = ReadonlyArray<readonly [worker: number, info: TelemetryInfo]>;

export function renderStatusPage(
  gen: Generation | undefined,
  lastReload: { at: string; result: string; errors: number } | undefined,
  telemetry?: TelemetryInfo | WorkersTelemetry,
): string {
  const rows =
    gen === undefined
      ? '<tr><td colspan="4">no configuration loaded</td></tr>'
      : gen.config.routes
          .flatMap((route) =>
            route.rules.map(
              (rule) =>
                `<tr><td>${esc(rule.id)}</td><td>${esc(
                  rule.matches.map((m) => m.headers.map((h) => `${h.name} ${h.type === 'Exact' ? '=' : '~'} ${h.value}`).join(' & ') || '*').join(' | ') ||
                    '*',
                )}</td><td>${esc(rule.backendRefs.map((r) => `${r.backend.name} (p${r.priority}, w${r.weight}${r.modelNameOverride === undefined ? '' : `, model ${r.modelNameOverride}`})`).join(', '))}</td><td>${(rule.timeouts.requestMs / 1000).toFixed(0)} s</td></tr>`,
            ),
          )
          .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Tollgate</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:14px system-ui,sans-serif;margin:1.5rem 2rem;color:#222;background:#fafafa}
h1{margin:0 0 .3rem}h2{margin:1.6rem 0 .5rem;font-size:1.1rem}
table{border-collapse:collapse;background:#fff}td,th{border:1px solid #ddd;padding:4px 8px;text-align:left}th{background:#f0f0f0}
td.num{text-align:right;font-variant-numeric:tabular-nums}td.empty{color:#888;font-style:italic}
.cards{display:flex;flex-wrap:wrap;gap:.6rem}.card{background:#fff;border:1px solid #ddd;border-radius:6px;padding:.5rem .8rem;min-width:8.5rem}
.card b{display:block;font-size:1.35rem;font-variant-numeric:tabular-nums}.card span{color:#666;font-size:.8rem}
.muted{color:#777}#status{color:#b00}.grid{display:flex;flex-wrap:wrap;gap:1.5rem;align-items:flex-start}
svg{background:#fff;border:1px solid #ddd}
</style>
</head><body>
<h1>Tollgate</h1>
<p>Config generation <b>${gen?.id ?? '—'}</b>${gen === undefined ? '' : `, active since ${esc(new Date(gen.activatedAt).toISOString())}`}.
${lastReload === undefined ? '' : `Last reload: ${esc(lastReload.result)} at ${esc(lastReload.at)}${lastReload.errors > 0 ? ` (${lastReload.errors} errors)` : ''}.`}
<span class="muted" id="updated"></span> <span id="status"><noscript>live numbers need JavaScript; see /metrics</noscript></span></p>
<p><a href="/metrics">/metrics</a> · <a href="/config_dump">/config_dump</a> · <a href="/readyz">/readyz</a> · <a href="/healthz">/healthz</a></p>

<h2>Traffic</h2>
<div class="cards">
${card('stat-requests', 'requests')}${card('stat-rps', 'requests/s')}${card('stat-inflight', 'in flight')}${card('stat-errors', 'errors')}${card('stat-tokens', 'tokens (input + output)')}
${card('stat-downstream-p50', 'downstream p50')}${card('stat-upstream-p50', 'upstream p50')}${card('stat-overhead-p50', 'gateway overhead p50')}${card('stat-overhead-p99', 'gateway overhead p99')}${card('stat-ttft-p50', 'time to first token p50')}
</div>
<p><svg id="chart" width="600" height="120" viewBox="0 0 600 120" role="img" aria-label="requests and tokens per second">
<polyline id="rps-line" fill="none" stroke="#1f6feb" stroke-width="2" points=""/><polyline id="tps-line" fill="none" stroke="#e8710a" stroke-width="2" points=""/></svg><br>
<span class="muted" id="chart-max"></span></p>

<div class="grid">
<div><h2>Tokens by model</h2>
<table><thead><tr><th>gen_ai_request_model</th><th>requests</th><th>input</th><th>cached input</th><th>output</th><th>reasoning</th><th>total</th></tr></thead><tbody id="tokens-by-model"></tbody></table></div>
<div><h2>Tokens by workload</h2>
<table><thead><tr><th>workload</th><th>requests</th><th>input</th><th>cached input</th><th>output</th><th>reasoning</th><th>total</th></tr></thead><tbody id="tokens-by-workload"></tbody></table></div>
</div>

<h2>Token drift (gateway count vs backend report)</h2>
<table><thead><tr><th>model</th><th>input (backend)</th><th>input (gateway)</th><th>input drift</th><th>output (backend)</th><th>output (gateway)</th><th>output drift</th></tr></thead><tbody id="drift"></tbody></table>

<div class="grid">
<div><h2>Errors by code</h2>
<table><thead><tr><th>code</th><th>requests</th></tr></thead><tbody id="errors"></tbody></table></div>
<div><h2>Upstream pools</h2>
<table><thead><tr><th>backend</th><th>endpoint</th><th>connected</th><th>free</th><th>running</th><th>pending</th></tr></thead><tbody id="pools"></tbody></table></div>
</div>

<h2>MCP tool calls</h2>
<div class="cards">${card('stat-mcp-calls', 'tool calls')}${card('stat-mcp-sessions', 'sessions opened')}${card('stat-mcp-failures', 'MCP server failures')}${card('stat-mcp-p50', 'MCP request p50')}</div>
<div class="grid">
<div><table><thead><tr><th>backend</th><th>tool</th><th>outcome</th><th>calls</th></tr></thead><tbody id="mcp-tool-calls"></tbody></table></div>
<div><table><thead><tr><th>backend</th><th>failure</th><th>exchanges</th></tr></thead><tbody id="mcp-failures"></tbody></table></div>
</div>

<h2>Accounting</h2>
${Array.isArray(telemetry) ? workersAccountingTable(telemetry as WorkersTelemetry) : accountingTable(telemetry as TelemetryInfo | undefined)}

<h2>Routes</h2>
<table><tr><th>rule</th><th>matches</th><th>backends</th><th>timeout</th></tr>
${rows}
</table>
<script>${DASHBOARD_SCRIPT}</script>
</body></html>
`;
}

function card(id: string, label: string): string {
  return `<div class="card"><b id="${id}">—</b><span>${esc(label)}</span></div>`;
}

function accountingTable(t: TelemetryInfo | undefined): string {
  if (t === undefined) return '<p class="muted">not available</p>';
  const rows: Array<[string, string]> = [
    ['token counting', `${t.accounting.mode === 'worker' ? 'worker thread' : 'main thread, sliced'}; ${t.accounting.counted} counted, ${t.accounting.skipped} skipped (backlog full)`],
    ['counts running', `<span id="stat-counting">${t.accounting.counting}</span>`],
    [
      'usage ledger',
      t.ledger === undefined
        ? 'off (start with --ledger DIR)'
        : `${esc(t.ledger.file)} · <span id="stat-ledger-lines">${t.ledger.lines}</span> lines written${t.ledger.writeErrors > 0 ? ` · <b>${t.ledger.writeErrors} write errors</b>` : ''}${t.ledger.backlog > 0 ? ` · ${t.ledger.backlog} lines waiting for the disk` : ''}`,
    ],
    ['database sinks', t.sinks.length === 0 ? 'none' : t.sinks.map((s) => `${esc(s.name)}: ${s.written} written, ${s.pending} pending, ${s.failed} failed batches, ${s.dropped} dropped`).join('<br>')],
    ['access log', t.accessLog === undefined ? 'off' : esc(t.accessLog)],
    ['traces (OTLP)', t.traces === undefined ? 'off' : esc(t.traces)],
  ];
  return `<table>${rows.map(([k, v]) => `<tr><th>${esc(k)}</th><td>${v}</td></tr>`).join('')}</table>`;
}

/**
 * Every worker's ledger, sinks and token counting (each worker writes its own ledger file and runs
 * its own sinks); the live totals in it come from the instance's merged /metrics.
 */
function workersAccountingTable(ws: WorkersTelemetry): string {
  if (ws.length === 0) return '<p class="muted">no worker answered</p>';
  const each = (f: (t: TelemetryInfo) => string): string => ws.map(([w, t]) => `worker ${w}: ${f(t)}`).join('<br>');
  const lines = ws.reduce((n, [, t]) => n + (t.ledger?.lines ?? 0), 0);
  const distinct = (f: (t: TelemetryInfo) => string | undefined): string => [...new Set(ws.map(([, t]) => f(t) ?? 'off'))].map(esc).join('<br>');
  const rows: Array<[string, string]> = [
    ['token counting', each((t) => `${t.accounting.mode === 'worker' ? 'worker thread' : 'main thread, sliced'}; ${t.accounting.counted} counted, ${t.accounting.skipped} skipped (backlog full)`)],
    ['counts running', `<span id="stat-counting">${ws.reduce((n, [, t]) => n + t.accounting.counting, 0)}</span>`],
    [
      'usage ledger',
      ws.every(([, t]) => t.ledger === undefined)
        ? 'off (start with --ledger DIR)'
        : `<span id="stat-ledger-lines">${lines}</span> lines written in all<br>${each((t) =>
            t.ledger === undefined
              ? 'off'
              : `${esc(t.ledger.file)} · ${t.ledger.lines} lines${t.ledger.writeErrors > 0 ? ` · <b>${t.ledger.writeErrors} write errors</b>` : ''}${t.ledger.backlog > 0 ? ` · ${t.ledger.backlog} lines waiting for the disk` : ''}`,
          )}`,
    ],
    [
      'database sinks',
      ws.every(([, t]) => t.sinks.length === 0)
        ? 'none'
        : each((t) => t.sinks.map((s) => `${esc(s.name)}: ${s.written} written, ${s.pending} pending, ${s.failed} failed batches, ${s.dropped} dropped`).join('; ') || 'none'),
    ],
    ['access log', distinct((t) => t.accessLog)],
    ['traces (OTLP)', distinct((t) => t.traces)],
  ];
  return `<table>${rows.map(([k, v]) => `<tr><th>${esc(k)}</th><td>${v}</td></tr>`).join('')}</table>`;
}

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
