// `tollgate keys`: virtual keys through a running gateway's admin API (create, list, show, rotate,
// revoke, update). The admin token comes from --admin-token-file or TOLLGATE_ADMIN_TOKEN, as for
// `serve`; the secret of a created or rotated key is printed once and is not kept anywhere.
import { readFile } from 'node:fs/promises';
import { parseLongDuration } from '../config/schema/keys.js';
import { CliError, formatHelp, parseCommandArgs, parsePositiveInt, UsageError } from './args.js';

const spec = {
  name: 'keys',
  summary: 'virtual keys (tg-…) with model allowlists, rate limits and dollar budgets, on a running gateway',
  usage: `
Usage:
  tollgate keys create --admin URL --name NAME --workload APP [--team TEAM] [--models M,...]
                       [--budget AMOUNT/PERIOD]... [--soft AMOUNT] [--rpm N] [--tpm N]
                       [--expires DURATION] [--metadata K=V]... [--format json]
  tollgate keys list --admin URL [--format json]
  tollgate keys show ID --admin URL [--format json]
  tollgate keys rotate ID [--grace DURATION] --admin URL [--format json]
  tollgate keys revoke ID --admin URL [--format json]
  tollgate keys update ID [--name …] [--workload …] [--team …] [--models …] [--budget …]... [--soft …]
                       [--rpm N] [--tpm N] [--expires DURATION] [--metadata K=V]... --admin URL

  --admin URL              the gateway's admin listener, e.g. http://127.0.0.1:9901 (env TOLLGATE_ADMIN_URL)
  --admin-token-file FILE  the admin token (env TOLLGATE_ADMIN_TOKEN), as given to \`tollgate serve\`
  --budget AMOUNT/PERIOD[@BACKEND]
                           a dollar budget in the rates file's currency; PERIOD is 1d, 7d, 30d or
                           month (calendar month, UTC); e.g. --budget 0.50/30d (repeatable). With
                           @BACKEND only spend on that AIServiceBackend counts, and when it is spent
                           requests fail over to the route's next backend instead of being refused
  --soft AMOUNT            warn (log line and metric) once this much of each budget is spent
  --models M,...           the models the key may ask for (default: all)
  --rpm N, --tpm N         requests and tokens per minute for this key
  --expires DURATION       the key stops working after this long: 30d, 12h, 1d12h
  --grace DURATION         rotate: how long the old secret keeps working (default: not at all)
  --format FORMAT          text (default) or json; \`create --format json\` prints id and key

The secret (tg-…) is shown once, at create and rotate. Clients send it as
"Authorization: Bearer tg-…" or "x-api-key: tg-…".
`,
  options: {
    admin: { type: 'string' },
    'admin-token-file': { type: 'string' },
    name: { type: 'string' },
    workload: { type: 'string' },
    team: { type: 'string' },
    models: { type: 'string' },
    budget: { type: 'string', multiple: true },
    soft: { type: 'string' },
    rpm: { type: 'string' },
    tpm: { type: 'string' },
    expires: { type: 'string' },
    grace: { type: 'string' },
    metadata: { type: 'string', multiple: true },
    format: { type: 'string', default: 'text' },
    help: { type: 'boolean', short: 'h', default: false },
  },
  allowPositionals: true,
} as const;

type Values = ReturnType<typeof parseCommandArgs<typeof spec.options>>['values'];

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(spec, argv);
  if (values.help) {
    process.stdout.write(formatHelp(spec));
    return 0;
  }
  const [action, id, ...extra] = positionals;
  if (extra.length > 0) throw new UsageError(`unexpected arguments: ${extra.join(' ')}`, 'see `tollgate keys --help`');
  if (values.format !== 'text' && values.format !== 'json') throw new UsageError(`--format: "${values.format}" must be text or json`);
  const json = values.format === 'json';
  const api = await client(values);
  switch (action) {
    case 'create': {
      if (values.name === undefined || values.workload === undefined) throw new UsageError('create needs --name NAME and --workload APP', 'e.g. tollgate keys create --admin http://127.0.0.1:9901 --name ci-agent --workload ci');
      const body = { ...keyFields(values), name: values.name, workload: values.workload };
      const r = await api('POST', '/admin/keys', body);
      if (json) print(r);
      else process.stdout.write(`created key ${str(r['id'])} "${str(r['name'])}" for workload ${str(r['workload'])}\nkey: ${str(r['key'])}\n(shown once: store it now; the gateway keeps only a salted hash)\n`);
      return 0;
    }
    case 'list': {
      const r = await api('GET', '/admin/keys');
      const keys = (r['keys'] as Array<Record<string, unknown>> | undefined) ?? [];
      if (json) print(r);
      else process.stdout.write(table(keys));
      return 0;
    }
    case 'show':
    case 'revoke':
    case 'rotate':
    case 'update': {
      if (id === undefined) throw new UsageError(`${action} needs the key id`, `tollgate keys ${action} ID --admin URL (\`tollgate keys list\` shows the ids)`);
      const path = `/admin/keys/${encodeURIComponent(id)}`;
      const r =
        action === 'show'
          ? await api('GET', path)
          : action === 'revoke'
            ? await api('POST', `${path}/revoke`, {})
            : action === 'rotate'
              ? await api('POST', `${path}/rotate`, values.grace === undefined ? {} : { grace: duration(values.grace, '--grace') })
              : await api('PATCH', path, keyFields(values));
      if (json) print(r);
      else if (action === 'rotate') process.stdout.write(`rotated key ${id}${values.grace === undefined ? '' : `; the old secret works until ${str(r['previousSecretValidUntil'])}`}\nkey: ${str(r['key'])}\n(shown once: store it now)\n`);
      else process.stdout.write(describe(r));
      return 0;
    }
    case undefined:
      throw new UsageError('missing action: create, list, show, rotate, revoke or update', 'see `tollgate keys --help`');
    default:
      throw new UsageError(`unknown action "${action}": use create, list, show, rotate, revoke or update`, 'see `tollgate keys --help`');
  }
}

type Api = (method: string, path: string, body?: unknown) => Promise<Record<string, unknown>>;

async function client(values: Values): Promise<Api> {
  const base = values.admin ?? process.env['TOLLGATE_ADMIN_URL'];
  if (base === undefined) throw new UsageError('--admin URL is required (the gateway\'s admin listener)', 'e.g. --admin http://127.0.0.1:9901');
  const url = /^https?:\/\//.test(base) ? base.replace(/\/+$/, '') : `http://${base}`;
  let token = process.env['TOLLGATE_ADMIN_TOKEN'];
  const file = values['admin-token-file'];
  if (file !== undefined) {
    try {
      token = (await readFile(file, 'utf8')).trim();
    } catch (err) {
      throw new CliError(`cannot read --admin-token-file ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
    }
  }
  if (token === undefined || token === '') throw new UsageError('no admin token: pass --admin-token-file FILE or set TOLLGATE_ADMIN_TOKEN', 'the same token the gateway was started with');
  return async (method, path, body) => {
    let res: Response;
    try {
      res = await fetch(`${url}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    } catch (err) {
      throw new CliError(`cannot reach the admin listener at ${url}: ${(err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message}`, 'is `tollgate serve` running, and is --admin its admin address?');
    }
    const text = await res.text();
    let parsed: Record<string, unknown>;
    try {
      parsed = JSON.parse(text) as Record<string, unknown>;
    } catch {
      throw new CliError(`the admin listener answered ${res.status} with something that is not JSON`, 'is --admin the gateway\'s admin address (not its data port)?');
    }
    if (!res.ok) {
      const e = parsed['error'] as { message?: string; problems?: string[] } | undefined;
      const problems = e?.problems === undefined ? '' : `\n  ${e.problems.join('\n  ')}`;
      throw new CliError(`${res.status}: ${e?.problems === undefined ? (e?.message ?? text) : 'the request is not valid:'}${problems}`);
    }
    return parsed;
  };
}

/** The fields create and update share, from the flags given (absent flags leave fields out). */
function keyFields(v: Values): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (v.name !== undefined) out['name'] = v.name;
  if (v.workload !== undefined) out['workload'] = v.workload;
  if (v.team !== undefined) out['team'] = v.team;
  if (v.models !== undefined) out['models'] = v.models.split(',').map((m) => m.trim()).filter((m) => m !== '');
  if (v.rpm !== undefined) out['rpm'] = parsePositiveInt(v.rpm, '--rpm');
  if (v.tpm !== undefined) out['tpm'] = parsePositiveInt(v.tpm, '--tpm');
  if (v.expires !== undefined) out['expiresIn'] = duration(v.expires, '--expires');
  if (v.budget !== undefined) {
    const soft = v.soft === undefined ? undefined : money(v.soft, '--soft');
    out['budgets'] = v.budget.map((b) => ({ ...budget(b), ...(soft === undefined ? {} : { soft }) }));
  } else if (v.soft !== undefined) throw new UsageError('--soft goes with --budget (it applies to the budgets given)');
  if (v.metadata !== undefined) {
    const md: Record<string, string> = {};
    for (const kv of v.metadata) {
      const eq = kv.indexOf('=');
      if (eq <= 0) throw new UsageError(`--metadata: "${kv}" is not KEY=VALUE`, 'e.g. --metadata owner=alice');
      md[kv.slice(0, eq)] = kv.slice(eq + 1);
    }
    out['metadata'] = md;
  }
  return out;
}

function budget(text: string): { amount: number; period: string; backend?: string } {
  const m = /^([0-9]+(?:\.[0-9]+)?)\/(1d|7d|30d|month)(?:@([^@\s]+))?$/.exec(text.trim());
  if (m === null) throw new UsageError(`--budget: "${text}" is not AMOUNT/PERIOD[@BACKEND]`, 'e.g. --budget 0.50/30d, --budget 100/month or --budget 20/1d@openai (periods: 1d, 7d, 30d, month)');
  return { amount: Number(m[1]), period: m[2] as string, ...(m[3] === undefined ? {} : { backend: m[3] }) };
}

function money(text: string, flag: string): number {
  if (!/^[0-9]+(\.[0-9]+)?$/.test(text)) throw new UsageError(`${flag}: "${text}" is not an amount`, `e.g. ${flag} 80`);
  return Number(text);
}

function duration(text: string, flag: string): string {
  if (parseLongDuration(text) === undefined) throw new UsageError(`${flag}: "${text}" is not a duration`, `e.g. ${flag} 30d, 12h or 1d12h`);
  return text;
}

function print(v: unknown): void {
  process.stdout.write(`${JSON.stringify(v, null, 2)}\n`);
}

function str(v: unknown): string {
  return typeof v === 'string' ? v : v === undefined || v === null ? '' : JSON.stringify(v);
}

function budgetsText(v: unknown): string {
  if (!Array.isArray(v) || v.length === 0) return '-';
  return (v as Array<Record<string, unknown>>).map((b) => `${b['spent'] === undefined ? '' : `${str(b['spent'])} of `}${str(b['amount'])}/${str(b['period'])}`).join(', ');
}

function table(keys: ReadonlyArray<Record<string, unknown>>): string {
  if (keys.length === 0) return 'no keys\n';
  const rows = [['ID', 'NAME', 'WORKLOAD', 'TEAM', 'STATE', 'BUDGETS'], ...keys.map((k) => [str(k['id']), str(k['name']), str(k['workload']), str(k['team']) || '-', str(k['state']), budgetsText(k['budgets'])])];
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd()).join('\n') + '\n';
}

function describe(k: Record<string, unknown>): string {
  const lines = [
    `id:        ${str(k['id'])}`,
    `name:      ${str(k['name'])}`,
    `workload:  ${str(k['workload'])}`,
    `team:      ${str(k['team']) || '-'}`,
    `state:     ${str(k['state'])}`,
    `models:    ${Array.isArray(k['models']) && k['models'].length > 0 ? (k['models'] as string[]).join(', ') : 'any'}`,
    `rpm/tpm:   ${str(k['rpm']) || '-'} / ${str(k['tpm']) || '-'}`,
    `budgets:   ${budgetsText(k['budgets'])}${k['currency'] === undefined ? '' : ` ${str(k['currency'])}`}`,
    `expires:   ${str(k['expiresAt']) || 'never'}`,
  ];
  return `${lines.join('\n')}\n`;
}
