// The admin dashboard's browser script. It reads the gateway's own /metrics (same origin) every two
// seconds and renders the live numbers: the page needs no endpoint of its own, and what it shows is
// exactly what Prometheus scrapes. Plain ES2020, no libraries; every value goes in with textContent.
export const DASHBOARD_SCRIPT = String.raw`
(() => {
  'use strict';
  const $ = (id) => document.getElementById(id);
  const setText = (id, text) => {
    const el = $(id);
    if (el !== null) el.textContent = text;
  };
  const history = [];
  const MAX_POINTS = 90;

  function parse(text) {
    const out = [];
    for (const line of text.split('\n')) {
      if (line === '' || line[0] === '#') continue;
      const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
      if (m === null) continue;
      const labels = {};
      if (m[2] !== undefined) {
        const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
        let l;
        while ((l = re.exec(m[2])) !== null) labels[l[1]] = l[2].replace(/\\(.)/g, (_, c) => (c === 'n' ? '\n' : c));
      }
      out.push({ name: m[1], labels, value: Number(m[3]) });
    }
    return out;
  }

  const pick = (s, name, where) => s.filter((x) => x.name === name && (where === undefined || Object.entries(where).every(([k, v]) => x.labels[k] === v)));
  const total = (s, name, where) => pick(s, name, where).reduce((a, x) => a + x.value, 0);

  function groupBy(s, name, keys) {
    const m = new Map();
    for (const x of pick(s, name)) {
      const k = JSON.stringify(keys.map((key) => x.labels[key] ?? ''));
      m.set(k, (m.get(k) ?? 0) + x.value);
    }
    return m;
  }

  // A quantile over all series of a histogram, by linear interpolation inside the bucket.
  function quantile(s, name, q) {
    const byLe = new Map();
    for (const x of pick(s, name + '_bucket')) byLe.set(x.labels.le, (byLe.get(x.labels.le) ?? 0) + x.value);
    const buckets = [...byLe.entries()].map(([le, n]) => [le === '+Inf' ? Infinity : Number(le), n]).sort((a, b) => a[0] - b[0]);
    const count = buckets.length === 0 ? 0 : buckets[buckets.length - 1][1];
    if (count === 0) return undefined;
    const rank = q * count;
    let prevLe = 0, prevN = 0;
    for (const [le, n] of buckets) {
      if (n >= rank) {
        if (le === Infinity) return prevLe;
        return prevLe + (le - prevLe) * ((rank - prevN) / Math.max(1, n - prevN));
      }
      prevLe = le;
      prevN = n;
    }
    return undefined;
  }

  const fmtInt = (n) => Math.round(n).toLocaleString('en-US');
  const fmtMs = (sec) => (sec === undefined ? '—' : sec < 0.01 ? (sec * 1000).toFixed(2) + ' ms' : sec < 10 ? (sec * 1000).toFixed(0) + ' ms' : sec.toFixed(1) + ' s');
  const fmtPct = (r) => (r === undefined ? '—' : (r * 100).toFixed(2) + ' %');

  function fill(tbodyId, rows, empty) {
    const tb = $(tbodyId);
    tb.textContent = '';
    if (rows.length === 0) {
      const tr = document.createElement('tr');
      const td = document.createElement('td');
      td.colSpan = 16;
      td.className = 'empty';
      td.textContent = empty;
      tr.append(td);
      tb.append(tr);
      return;
    }
    for (const cells of rows) {
      const tr = document.createElement('tr');
      for (const c of cells) {
        const td = document.createElement('td');
        td.textContent = String(c);
        if (typeof c === 'number' || /^[-\d.,]+( %| ms| s)?$/.test(String(c))) td.className = 'num';
        tr.append(td);
      }
      tb.append(tr);
    }
  }

  const TYPES = ['input', 'cached_input', 'output', 'reasoning'];

  function tokenRows(s, key) {
    const g = groupBy(s, 'gen_ai_client_token_usage_token_sum', [key, 'gen_ai_token_type']);
    const reqs = groupBy(s, 'gen_ai_client_token_usage_token_count', [key, 'gen_ai_token_type']);
    const rows = new Map();
    for (const [k, v] of g) {
      const [name, type] = JSON.parse(k);
      const r = rows.get(name) ?? { input: 0, cached_input: 0, output: 0, reasoning: 0, requests: 0 };
      r[type] = (r[type] ?? 0) + v;
      if (type === 'input') r.requests = reqs.get(k) ?? 0;
      rows.set(name, r);
    }
    return [...rows.entries()].sort().map(([name, r]) => [name === '' ? '(none)' : name, fmtInt(r.requests), ...TYPES.map((t) => fmtInt(r[t])), fmtInt(r.input + r.output)]);
  }

  function driftRows(s) {
    const g = groupBy(s, 'tollgate_token_audit_tokens_total', ['gen_ai_request_model', 'gen_ai_token_type', 'counted_by']);
    const models = new Map();
    for (const [k, v] of g) {
      const [model, type, by] = JSON.parse(k);
      const m = models.get(model) ?? {};
      m[type + '_' + by] = v;
      models.set(model, m);
    }
    return [...models.entries()].sort().map(([model, m]) => {
      const d = (t) => (m[t + '_backend'] > 0 ? (m[t + '_gateway'] - m[t + '_backend']) / m[t + '_backend'] : undefined);
      return [model, fmtInt(m.input_backend ?? 0), fmtInt(m.input_gateway ?? 0), fmtPct(d('input')), fmtInt(m.output_backend ?? 0), fmtInt(m.output_gateway ?? 0), fmtPct(d('output'))];
    });
  }

  function poolRows(s) {
    const conns = groupBy(s, 'tollgate_upstream_pool_connections', ['backend', 'endpoint', 'state']);
    const reqs = groupBy(s, 'tollgate_upstream_pool_requests', ['backend', 'endpoint', 'state']);
    const eps = new Map();
    for (const [k, v] of [...conns, ...reqs]) {
      const [backend, endpoint, state] = JSON.parse(k);
      const id = backend + ' ' + endpoint;
      const e = eps.get(id) ?? { backend, endpoint };
      e[state] = v;
      eps.set(id, e);
    }
    return [...eps.values()].sort((a, b) => (a.backend + a.endpoint < b.backend + b.endpoint ? -1 : 1)).map((e) => [e.backend, e.endpoint, e.connected ?? 0, e.free ?? 0, e.running ?? 0, e.pending ?? 0]);
  }

  // Tool calls by server, tool and outcome; a name no server owns is counted under tool "" (see mcp-metrics).
  function mcpRows(s) {
    const g = groupBy(s.filter((x) => x.labels.method === 'tools/call'), 'tollgate_mcp_requests_total', ['backend', 'tool', 'outcome']);
    return [...g.entries()].filter(([, v]) => v > 0).sort().map(([k, v]) => {
      const [backend, tool, outcome] = JSON.parse(k);
      return [backend === '' ? '(none)' : backend, tool === '' ? '(unknown tool)' : tool, outcome, fmtInt(v)];
    });
  }

  function mcpFailureRows(s) {
    return [...groupBy(s, 'tollgate_mcp_backend_failures_total', ['backend', 'reason']).entries()].filter(([, v]) => v > 0).sort().map(([k, v]) => [...JSON.parse(k), fmtInt(v)]);
  }

  // Two lines, each scaled to its own maximum (requests and tokens differ by orders of magnitude).
  function chart(points) {
    const svg = $('chart');
    const w = 600, h = 120, pad = 4;
    const maxR = Math.max(0.1, ...points.map((p) => p.rps));
    const maxT = Math.max(1, ...points.map((p) => p.tps));
    const line = (f, max) => points.map((p, i) => (pad + (i * (w - 2 * pad)) / Math.max(1, MAX_POINTS - 1)).toFixed(1) + ',' + (h - pad - (f(p) / max) * (h - 2 * pad)).toFixed(1)).join(' ');
    svg.querySelector('#rps-line').setAttribute('points', line((p) => p.rps, maxR));
    svg.querySelector('#tps-line').setAttribute('points', line((p) => p.tps, maxT));
    $('chart-max').textContent = 'peak ' + maxR.toFixed(1) + ' req/s (blue) · ' + fmtInt(maxT) + ' tokens/s (orange)';
  }

  function render(s) {
    const now = Date.now();
    const reqTotal = total(s, 'tollgate_requests_total');
    const errTotal = pick(s, 'tollgate_requests_total').filter((x) => x.labels.error_code !== '').reduce((a, x) => a + x.value, 0);
    const tokTotal = pick(s, 'gen_ai_client_token_usage_token_sum').filter((x) => x.labels.gen_ai_token_type === 'input' || x.labels.gen_ai_token_type === 'output').reduce((a, x) => a + x.value, 0);
    const prev = history[history.length - 1];
    const dt = prev === undefined ? 0 : (now - prev.t) / 1000;
    history.push({ t: now, req: reqTotal, tok: tokTotal, rps: dt > 0 ? Math.max(0, reqTotal - prev.req) / dt : 0, tps: dt > 0 ? Math.max(0, tokTotal - prev.tok) / dt : 0 });
    while (history.length > MAX_POINTS) history.shift();
    const last = history[history.length - 1];
    $('stat-requests').textContent = fmtInt(reqTotal);
    $('stat-rps').textContent = last.rps.toFixed(1);
    $('stat-inflight').textContent = fmtInt(total(s, 'tollgate_requests_in_flight'));
    $('stat-errors').textContent = fmtInt(errTotal);
    $('stat-tokens').textContent = fmtInt(tokTotal);
    $('stat-overhead-p50').textContent = fmtMs(quantile(s, 'tollgate_gateway_overhead_seconds', 0.5));
    $('stat-overhead-p99').textContent = fmtMs(quantile(s, 'tollgate_gateway_overhead_seconds', 0.99));
    $('stat-ttft-p50').textContent = fmtMs(quantile(s, 'gen_ai_server_time_to_first_token_seconds', 0.5));
    $('stat-upstream-p50').textContent = fmtMs(quantile(s, 'tollgate_upstream_duration_seconds', 0.5));
    $('stat-downstream-p50').textContent = fmtMs(quantile(s, 'tollgate_downstream_duration_seconds', 0.5));
    fill('tokens-by-model', tokenRows(s, 'gen_ai_request_model'), 'no tokens accounted yet');
    fill('tokens-by-workload', tokenRows(s, 'workload'), 'no tokens accounted yet');
    fill('drift', driftRows(s), 'no request counted by both the backend and the gateway yet');
    fill('pools', poolRows(s), 'no upstream endpoints');
    const errs = [...groupBy(s, 'tollgate_requests_total', ['error_code'])].filter(([k, v]) => JSON.parse(k)[0] !== '' && v > 0).map(([k, v]) => [JSON.parse(k)[0], fmtInt(v)]);
    fill('errors', errs, 'no errors');
    fill('mcp-tool-calls', mcpRows(s), 'no MCP tool calls yet');
    fill('mcp-failures', mcpFailureRows(s), 'no MCP server failures');
    setText('stat-mcp-calls', fmtInt(total(s, 'tollgate_mcp_requests_total', { method: 'tools/call' })));
    setText('stat-mcp-sessions', fmtInt(total(s, 'tollgate_mcp_sessions_total')));
    setText('stat-mcp-failures', fmtInt(total(s, 'tollgate_mcp_backend_failures_total')));
    setText('stat-mcp-p50', fmtMs(quantile(s, 'tollgate_mcp_request_duration_seconds', 0.5)));
    setText('stat-ledger-lines', fmtInt(total(s, 'tollgate_ledger_lines_total')));
    setText('stat-counting', fmtInt(total(s, 'tollgate_token_counts_in_flight')));
    chart(history);
    $('updated').textContent = 'updated ' + new Date(now).toLocaleTimeString();
    $('status').textContent = '';
    document.body.dataset.ready = 'true';
  }

  async function tick() {
    try {
      const r = await fetch('/metrics', { cache: 'no-store' });
      if (!r.ok) throw new Error('HTTP ' + r.status);
      render(parse(await r.text()));
    } catch (err) {
      $('status').textContent = 'cannot read /metrics: ' + err.message;
    }
  }
  tick();
  setInterval(tick, 2000);
})();
`;
