// The admin root page: what is serving, at a glance. Plain server-rendered HTML with no scripts, so
// it works anywhere the admin port is reachable.
import type { Generation } from '../pipeline/generation.js';

export function renderStatusPage(gen: Generation | undefined, lastReload: { at: string; result: string; errors: number } | undefined): string {
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
<style>body{font:14px system-ui,sans-serif;margin:2rem;color:#222}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}th{background:#f4f4f4}</style>
</head><body>
<h1>Tollgate</h1>
<p>Config generation <b>${gen?.id ?? '—'}</b>${gen === undefined ? '' : `, active since ${esc(new Date(gen.activatedAt).toISOString())}`}.
${lastReload === undefined ? '' : `Last reload: ${esc(lastReload.result)} at ${esc(lastReload.at)}${lastReload.errors > 0 ? ` (${lastReload.errors} errors)` : ''}.`}</p>
<p><a href="/metrics">/metrics</a> · <a href="/config_dump">/config_dump</a> · <a href="/readyz">/readyz</a> · <a href="/healthz">/healthz</a></p>
<h2>Routes</h2>
<table><tr><th>rule</th><th>matches</th><th>backends</th><th>timeout</th></tr>
${rows}
</table>
</body></html>
`;
}

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
