// Chargeback and drift reports as a text table (people), CSV (spreadsheets) or JSON (scripts).
import type { ChargebackReport, ChargebackRow, DriftLine } from './chargeback.js';

export type ReportFormat = 'table' | 'csv' | 'json';

export interface ReportMeta {
  readonly source: string;
  readonly from: string | undefined;
  readonly to: string | undefined;
  /** Whether the source knows which tokens were estimated (the ledger does, Prometheus does not). */
  readonly knowsEstimates: boolean;
  readonly records?: number;
  readonly problems?: number;
}

const TOKEN_COLUMNS = ['input', 'cached_input', 'cache_creation_input', 'output', 'reasoning', 'total'] as const;

function costText(r: ChargebackRow, digits: number): string {
  if (r.cost === undefined) return r.unpriced ? 'unpriced' : '';
  return r.cost.toFixed(digits) + (r.unpriced ? '*' : '');
}

function rowCells(r: ChargebackRow, report: ChargebackReport, meta: ReportMeta, forTable: boolean): string[] {
  const n = (v: number): string => (forTable ? v.toLocaleString('en-US') : String(v));
  return [
    ...report.by.map((k) => r.group[k] ?? ''),
    n(r.requests),
    ...TOKEN_COLUMNS.map((t) => n(r.tokens[t])),
    ...(meta.knowsEstimates ? [n(r.estimatedTokens)] : []),
    costText(r, forTable ? 4 : 6),
  ];
}

function header(report: ChargebackReport, meta: ReportMeta): string[] {
  return [...report.by, 'requests', ...TOKEN_COLUMNS, ...(meta.knowsEstimates ? ['estimated'] : []), report.currency === '' ? 'cost' : `cost_${report.currency.toLowerCase()}`];
}

export function formatChargeback(report: ChargebackReport, meta: ReportMeta, format: ReportFormat): string {
  switch (format) {
    case 'json':
      return `${JSON.stringify(
        {
          source: meta.source,
          from: meta.from ?? null,
          to: meta.to ?? null,
          currency: report.currency,
          unit_tokens: report.unit,
          by: report.by,
          rows: report.rows.map(jsonRow),
          totals: jsonRow(report.totals),
          unpriced_models: report.unpricedModels,
          ...(meta.records === undefined ? {} : { records: meta.records }),
          ...(meta.problems === undefined ? {} : { unreadable_lines: meta.problems }),
        },
        null,
        2,
      )}\n`;
    case 'csv': {
      const lines = [header(report, meta), ...report.rows.map((r) => rowCells(r, report, meta, false))];
      const totals = rowCells(report.totals, report, meta, false);
      if (report.by.length > 0) totals[0] = 'TOTAL';
      lines.push(report.by.length > 0 ? totals : ['TOTAL', ...totals]);
      return lines.map((l) => l.map(csvField).join(',')).join('\n') + '\n';
    }
    case 'table': {
      const head = header(report, meta);
      const body = report.rows.map((r) => rowCells(r, report, meta, true));
      const totals = rowCells(report.totals, report, meta, true);
      const totalRow = report.by.length > 0 ? ['TOTAL', ...totals.slice(1)] : totals;
      let out = `Chargeback from ${meta.source}${meta.from === undefined && meta.to === undefined ? '' : ` (${meta.from ?? 'start'} → ${meta.to ?? 'now'})`}; prices per ${unitText(report.unit)} tokens${report.currency === '' ? '' : ` in ${report.currency}`}\n\n`;
      out += table(head, [...body, totalRow], report.by.length);
      if (report.unpricedModels.length > 0) out += `\n* no price for: ${report.unpricedModels.join(', ')} (add them to the rates file, or a \`default\`)\n`;
      if (meta.knowsEstimates && report.totals.estimatedTokens > 0) out += `\nestimated: tokens the backend did not report, billed from the gateway's own count (or a character estimate)\n`;
      if (meta.problems !== undefined && meta.problems > 0) out += `\n${meta.problems} ledger lines could not be read (see stderr)\n`;
      return out;
    }
  }
}

function jsonRow(r: ChargebackRow): Record<string, unknown> {
  return { ...r.group, requests: r.requests, tokens: r.tokens, estimated_tokens: r.estimatedTokens, cost: r.cost ?? null, unpriced: r.unpriced };
}

function unitText(u: number): string {
  if (u >= 1e6 && u % 1e6 === 0) return `${u / 1e6}M`;
  if (u >= 1e3 && u % 1e3 === 0) return `${u / 1e3}K`;
  return String(u);
}

function csvField(s: string): string {
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** A plain text table: text columns left-aligned, the rest right-aligned, a rule above the last row. */
function table(head: readonly string[], rows: ReadonlyArray<readonly string[]>, textColumns: number, lastIsTotal = true): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (i < textColumns ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  if (!lastIsTotal) return [line(head), rule, ...rows.map(line)].join('\n') + '\n';
  const body = rows.slice(0, -1).map(line);
  const last = rows[rows.length - 1];
  return [line(head), rule, ...body, ...(last === undefined ? [] : [rule, line(last)])].join('\n') + '\n';
}

export function formatDrift(lines: readonly DriftLine[], meta: ReportMeta, format: ReportFormat): string {
  const pct = (v: number | undefined): string => (v === undefined ? '' : `${(v * 100).toFixed(3)}%`);
  switch (format) {
    case 'json':
      return `${JSON.stringify(
        {
          source: meta.source,
          drift: lines.map((l) => ({
            model: l.model,
            token_type: l.tokenType,
            requests: l.requests,
            backend_tokens: l.backendTokens,
            gateway_tokens: l.gatewayTokens,
            drift: l.drift ?? null,
            mean_ratio: l.meanRatio ?? null,
            p95_abs_ratio: l.p95AbsRatio ?? null,
            max_abs_ratio: l.maxAbsRatio ?? null,
          })),
        },
        null,
        2,
      )}\n`;
    case 'csv': {
      const rows = lines.map((l) => [l.model, l.tokenType, String(l.requests), String(l.backendTokens), String(l.gatewayTokens), String(l.drift ?? ''), String(l.meanRatio ?? ''), String(l.p95AbsRatio ?? ''), String(l.maxAbsRatio ?? '')]);
      return [['model', 'token_type', 'requests', 'backend_tokens', 'gateway_tokens', 'drift', 'mean_ratio', 'p95_abs_ratio', 'max_abs_ratio'], ...rows].map((r) => r.map(csvField).join(',')).join('\n') + '\n';
    }
    case 'table': {
      const head = ['model', 'tokens', 'requests', 'backend', 'gateway', 'drift', 'mean/request', 'p95 |drift|', 'max |drift|'];
      const rows = lines.map((l) => [l.model, l.tokenType, l.requests.toLocaleString('en-US'), l.backendTokens.toLocaleString('en-US'), l.gatewayTokens.toLocaleString('en-US'), pct(l.drift), pct(l.meanRatio), pct(l.p95AbsRatio), pct(l.maxAbsRatio)]);
      const text = lines.length === 0 ? 'no request was counted by both the backend and the gateway\n' : table(head, rows, 2, false);
      return `Token drift audit from ${meta.source}: (gateway count − backend report) / backend report\n\n${text}`;
    }
  }
}
