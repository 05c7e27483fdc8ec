// The dashboard's keys page (`/admin/ui`): every key with its state and its spend against each
// budget. The page holds no data itself; its script asks the key API with the admin token the
// operator types in (kept in this tab's sessionStorage only), so the page can be served unguarded.
export const KEYS_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Tollgate keys</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:14px system-ui,sans-serif;margin:1.5rem 2rem;color:#222;background:#fafafa}
table{border-collapse:collapse;background:#fff;margin-top:1rem}td,th{border:1px solid #ddd;padding:4px 8px;text-align:left}th{background:#f0f0f0}
td.num{text-align:right;font-variant-numeric:tabular-nums}.bar{display:inline-block;width:8rem;height:.6rem;background:#eee;margin-left:.4rem;vertical-align:middle}
.bar i{display:block;height:100%;background:#3a7}.bar i.over{background:#c33}#status{color:#b00}
</style></head><body>
<h1>Virtual keys</h1>
<p><a href="/">dashboard</a> · spend this period against each budget, from the state store</p>
<form id="auth"><label>Admin token <input id="token" type="password" autocomplete="off" size="40"></label> <button>Show keys</button></form>
<p id="status"></p>
<table id="keys" hidden><thead><tr><th>id</th><th>name</th><th>workload</th><th>team</th><th>state</th><th>models</th><th>budgets</th></tr></thead><tbody></tbody></table>
<script>
const $ = (id) => document.getElementById(id);
function cell(text, cls) { const td = document.createElement('td'); td.textContent = text; if (cls) td.className = cls; return td; }
function budgets(list, currency) {
  const td = document.createElement('td');
  if (!list || list.length === 0) { td.textContent = '-'; return td; }
  for (const b of list) {
    const line = document.createElement('div');
    line.className = 'budget';
    const spent = typeof b.spent === 'number' ? b.spent : 0;
    line.textContent = spent.toFixed(4) + ' of ' + b.amount + ' ' + (currency || '') + ' / ' + b.period + (b.backend ? ' @' + b.backend : '');
    const bar = document.createElement('span'); bar.className = 'bar';
    const fill = document.createElement('i'); const pct = b.amount > 0 ? Math.min(100, (100 * spent) / b.amount) : 100;
    fill.style.width = pct + '%'; if (pct >= 100) fill.className = 'over';
    bar.appendChild(fill); line.appendChild(bar); td.appendChild(line);
  }
  return td;
}
async function load() {
  const token = sessionStorage.getItem('tollgate-admin-token');
  if (!token) return;
  const r = await fetch('/admin/keys?spend=true', { headers: { authorization: 'Bearer ' + token } });
  const body = await r.json();
  if (!r.ok) { $('status').textContent = (body.error && body.error.message) || ('HTTP ' + r.status); return; }
  $('status').textContent = '';
  const tbody = $('keys').querySelector('tbody');
  tbody.replaceChildren();
  for (const k of body.keys) {
    const tr = document.createElement('tr');
    tr.dataset.id = k.id;
    tr.append(cell(k.id), cell(k.name), cell(k.workload), cell(k.team || '-'), cell(k.state), cell((k.models || []).join(', ') || 'any'), budgets(k.budgets, k.currency));
    tbody.appendChild(tr);
  }
  $('keys').hidden = false;
}
$('auth').addEventListener('submit', (e) => { e.preventDefault(); sessionStorage.setItem('tollgate-admin-token', $('token').value); load(); });
load();
setInterval(load, 5000);
</script>
</body></html>
`;
