// `tollgate validate`: load a config exactly as `serve` would, print every problem with file:line and
// a hint, then a summary. Exit 0 valid (warnings allowed), 1 invalid, 2 usage.
import { configDump, formatDiagnostics, loadConfig, type ConfigResult } from '../config/index.js';
import { formatHelp, parseCommandArgs, UsageError } from './args.js';

const spec = {
  name: 'validate',
  summary: 'check manifests and print every problem with file:line',
  usage: `
Usage: tollgate validate --config PATH... [--secrets-dir DIR] [--format text|json] [--serve]

  --config, -c PATH   a manifest file or a directory of them (repeatable; more paths may follow)
  --secrets-dir DIR   secrets mounted as <DIR>/<secret-name>/<key>
  --format FORMAT     text (default) or json (diagnostics, summary and the effective config)
  --serve             judge as \`tollgate serve\` would: an unset \${VAR} in a Secret is an error
                      (by default it is a warning, so CI can validate without the secrets)

Secrets resolve from Secret manifests, then --secrets-dir, then TOLLGATE_SECRET_<NAME>_<KEY>.
Exit status: 0 valid (warnings allowed), 1 invalid, 2 bad usage.
`,
  options: {
    config: { type: 'string', short: 'c', multiple: true },
    'secrets-dir': { type: 'string' },
    format: { type: 'string', default: 'text' },
    serve: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
  allowPositionals: true,
} as const;

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function summary(result: ConfigResult): { text: string; data: Record<string, unknown> } {
  const errors = result.diagnostics.filter((d) => d.severity === 'error').length;
  const warnings = result.diagnostics.length - errors;
  const c = result.config;
  if (c === undefined) {
    return { text: `invalid: ${plural(errors, 'error')}, ${plural(warnings, 'warning')}\n`, data: { valid: false, errors, warnings } };
  }
  const rules = c.routes.reduce((n, r) => n + r.rules.length, 0);
  const byKind = new Map<string, string[]>();
  for (const i of c.ignored) {
    const list = byKind.get(i.kind);
    if (list === undefined) byKind.set(i.kind, [i.name]);
    else list.push(i.name);
  }
  const mcp = c.mcp === undefined ? '' : `, ${plural(c.mcp.routes.length, 'MCP route')}`;
  let text = `valid: ${plural(c.routes.length, 'route')} (${plural(rules, 'rule')}), ${plural(c.backends.size, 'backend')}${mcp}, ${plural(warnings, 'warning')}\n`;
  if (byKind.size > 0) {
    text += `ignored (${plural(c.ignored.length, 'resource')}):\n`;
    for (const [kind, names] of [...byKind].sort((a, b) => a[0].localeCompare(b[0]))) text += `  ${kind}: ${names.join(', ')}\n`;
  }
  return {
    text,
    data: {
      valid: true,
      errors,
      warnings,
      routes: c.routes.length,
      rules,
      backends: c.backends.size,
      ignored: c.ignored.map((i) => ({ kind: i.kind, name: i.name, file: i.file, line: i.line, reason: i.reason })),
    },
  };
}

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(spec, argv);
  if (values.help) {
    process.stdout.write(formatHelp(spec));
    return 0;
  }
  const paths = [...(values.config ?? []), ...positionals];
  if (paths.length === 0) throw new UsageError('--config is required', 'e.g. tollgate validate --config ./manifests/');
  const format = values.format;
  if (format !== 'text' && format !== 'json') throw new UsageError(`--format must be text or json, not "${format}"`);
  const result = await loadConfig({
    paths,
    secretsDir: values['secrets-dir'],
    purpose: values.serve ? 'serve' : 'validate',
  });
  const s = summary(result);
  if (format === 'json') {
    const out = {
      ...s.data,
      diagnostics: result.diagnostics,
      config: result.config === undefined ? null : configDump(result.config),
    };
    process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
  } else {
    process.stdout.write(formatDiagnostics(result.diagnostics));
    process.stdout.write(s.text);
  }
  return result.config === undefined ? 1 : 0;
}
