// The three report formats: text for people (streamed as checks finish), JSON for scripts, JUnit XML
// for CI test tabs. All three carry the same facts: per check its outcome, evidence and, on failure,
// what was expected, what came back and a hint.
import type { CheckResult } from './check.js';
import type { RunReport } from './runner.js';

export type ReportFormat = 'text' | 'json' | 'junit';

const MARK: Record<CheckResult['outcome'], string> = { passed: 'PASS', failed: 'FAIL', skipped: 'SKIP', 'not-run': 'NOT RUN' };

export function textHeader(suite: string, gateway: string, admin: string): string {
  return `tollgate verify: ${suite} suite against ${gateway} (admin ${admin})\n\n`;
}

export function textResult(r: CheckResult): string {
  const lines = [`${MARK[r.outcome].padEnd(7)} ${r.id}  ${r.title}${r.outcome === 'passed' || r.outcome === 'failed' ? `  (${r.source}; ${r.ms} ms)` : ''}`];
  for (const e of r.evidence) lines.push(`          ✓ ${e}`);
  if (r.failure !== undefined) {
    lines.push(`          ✗ ${r.failure.message}`);
    if (r.failure.expected !== undefined) lines.push(`              expected: ${r.failure.expected}`);
    if (r.failure.actual !== undefined) lines.push(`              actual:   ${r.failure.actual}`);
    if (r.failure.hint !== undefined) lines.push(`              hint:     ${r.failure.hint}`);
  }
  if (r.reason !== undefined) lines.push(`          ${r.reason}`);
  return lines.join('\n') + '\n';
}

export function textSummary(report: RunReport): string {
  const c = report.counts;
  const parts = [`${c.passed} passed`, `${c.failed} failed`];
  if (c.skipped > 0) parts.push(`${c.skipped} skipped`);
  if (c.notRun > 0) parts.push(`${c.notRun} not run`);
  const failed = report.results.filter((r) => r.outcome === 'failed').map((r) => r.id);
  return `\n${report.results.length} checks: ${parts.join(', ')} in ${(report.ms / 1000).toFixed(1)} s\n${report.ok ? 'OK' : `FAILED${failed.length > 0 ? `: ${failed.join(', ')}` : ''}`}\n`;
}

export function formatText(report: RunReport): string {
  return textHeader(report.suite, report.gateway, report.admin) + report.results.map(textResult).join('') + textSummary(report);
}

export function formatJson(report: RunReport): string {
  return JSON.stringify(report, null, 2) + '\n';
}

function xmlChar(c: string): boolean {
  const cp = c.codePointAt(0) ?? 0;
  return cp === 0x9 || cp === 0xa || cp === 0xd || (cp >= 0x20 && cp <= 0xd7ff) || (cp >= 0xe000 && cp <= 0xfffd) || cp >= 0x10000;
}

function xml(text: string): string {
  // XML 1.0 forbids most control characters even when escaped; drop them.
  return Array.from(text)
    .filter(xmlChar)
    .join('')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;');
}

export function formatJunit(report: RunReport): string {
  const c = report.counts;
  const secs = (ms: number): string => (ms / 1000).toFixed(3);
  const cases = report.results.map((r) => {
    const open = `    <testcase classname="tollgate.verify.${r.suite}" name="${xml(`${r.id}: ${r.title}`)}" time="${secs(r.ms)}">`;
    const body: string[] = [];
    switch (r.outcome) {
      case 'passed':
        break;
      case 'failed': {
        const f = r.failure;
        const detail = [f?.expected === undefined ? '' : `expected: ${f.expected}`, f?.actual === undefined ? '' : `actual: ${f.actual}`, f?.hint === undefined ? '' : `hint: ${f.hint}`]
          .filter((l) => l.length > 0)
          .join('\n');
        body.push(`      <failure message="${xml(f?.message ?? 'failed')}" type="VerifyFailure">${xml(detail)}</failure>`);
        break;
      }
      case 'skipped':
      case 'not-run':
        body.push(`      <skipped message="${xml(r.reason ?? r.outcome)}"/>`);
        break;
    }
    if (r.evidence.length > 0) body.push(`      <system-out>${xml(r.evidence.join('\n'))}</system-out>`);
    return body.length === 0 ? `${open}</testcase>` : `${open}\n${body.join('\n')}\n    </testcase>`;
  });
  return `<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="tollgate verify" tests="${report.results.length}" failures="${c.failed}" skipped="${c.skipped + c.notRun}" time="${secs(report.ms)}">
  <testsuite name="tollgate verify (${report.suite}) ${xml(report.gateway)}" tests="${report.results.length}" failures="${c.failed}" errors="0" skipped="${c.skipped + c.notRun}" time="${secs(report.ms)}" timestamp="${report.startedAt}">
${cases.join('\n')}
  </testsuite>
</testsuites>
`;
}

export function formatReport(report: RunReport, format: ReportFormat): string {
  switch (format) {
    case 'text':
      return formatText(report);
    case 'json':
      return formatJson(report);
    case 'junit':
      return formatJunit(report);
  }
}
